// Message search (README "Search, channels and invitations"). A query is a
// few terms, all required. A term with three letters or digits in a row is
// found anywhere in a message, case-insensitively (parts of words, URLs,
// e-mail addresses, CJK text), through a trigram index; a two-character term
// is too short for a trigram and is found as a whole word through the
// full-text index. Anything else is refused before it reaches the database,
// so no query can make it scan the table; what passes is bounded by LIMIT and
// by the statement timeout of the search pool.
import { decodeIdCursor, encodeIdCursor } from './cursors.js'
import type { SearchFilter, SearchRepository } from '../repositories/search.js'
import { AppError, notFound } from './errors.js'
import { toMessage, type MessageView } from './views.js'
import { isDatabaseUnavailable, isRecoveryConflict, isStatementTimeout } from './prisma-errors.js'

export const SEARCH_LIMITS = {
  /** Characters of q, after trimming. */
  queryMaxLength: 200,
  /** Distinct terms of q. */
  maxTerms: 8,
  /** Characters of one term. */
  termMaxLength: 64,
  /** Characters of a snippet, ellipses excluded. */
  snippetLength: 160,
  /** Characters shown before the first match in a snippet. */
  snippetLead: 40
} as const

export interface SearchTerm {
  text: string
  /** A short term, matched as a whole word; otherwise a substring. */
  whole: boolean
}

const invalid = (message: string) => new AppError(400, 'INVALID_QUERY', message)
const RUN_OF_THREE = /[\p{L}\p{N}]{3}/u
const SHORT_WORD = /^[\p{L}\p{N}]{2}$/u
const EDGE_PUNCTUATION = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu

/** The terms of a query, or INVALID_QUERY naming the rule it breaks. */
export function parseQuery (q: string): SearchTerm[] {
  const text = q.trim()
  if (text.length === 0) throw invalid('q is empty')
  if (text.length > SEARCH_LIMITS.queryMaxLength) throw invalid(`q is longer than ${SEARCH_LIMITS.queryMaxLength} characters`)
  const seen = new Set<string>()
  const terms: SearchTerm[] = []
  for (const raw of text.split(/\s+/u)) {
    if (raw.length > SEARCH_LIMITS.termMaxLength) throw invalid(`A term is longer than ${SEARCH_LIMITS.termMaxLength} characters`)
    let term: SearchTerm
    if (RUN_OF_THREE.test(raw)) term = { text: raw, whole: false }
    else {
      const core = raw.replace(EDGE_PUNCTUATION, '')
      if (!SHORT_WORD.test(core)) throw invalid(`"${raw.slice(0, 20)}" is too short: a term needs three letters or digits in a row, or is a word of two`)
      term = { text: core, whole: true }
    }
    const key = `${term.whole ? 'w' : 's'}:${term.text.toLowerCase()}`
    if (seen.has(key)) continue
    seen.add(key)
    terms.push(term)
  }
  if (terms.length > SEARCH_LIMITS.maxTerms) throw invalid(`q has more than ${SEARCH_LIMITS.maxTerms} terms`)
  return terms
}

const likePattern = (term: string) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

export interface Snippet {
  /** Plain text (not HTML, not escaped): show it as text. */
  text: string
  /** Matches within text: [start, end) in UTF-16 code units, sorted, not overlapping. */
  highlights: Array<{ start: number, end: number }>
}

/** Every match of the terms in the body, merged where they overlap. */
function matchRanges (body: string, terms: SearchTerm[]): Array<[number, number]> {
  const parts = terms.map((t) => t.whole ? `(?<![\\p{L}\\p{N}])${regexEscape(t.text)}(?![\\p{L}\\p{N}])` : regexEscape(t.text))
  const re = new RegExp(parts.join('|'), 'giu')
  const ranges: Array<[number, number]> = []
  for (const m of body.matchAll(re)) {
    const start = m.index
    const end = start + m[0].length
    const last = ranges[ranges.length - 1]
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end)
    else ranges.push([start, end])
  }
  return ranges
}

const isLowSurrogate = (s: string, i: number) => { const c = s.charCodeAt(i); return c >= 0xdc00 && c <= 0xdfff }

/** A window of the body around its first match, with the matches in it. */
export function makeSnippet (body: string, terms: SearchTerm[]): Snippet {
  const ranges = matchRanges(body, terms)
  const { snippetLength, snippetLead } = SEARCH_LIMITS
  let start = Math.max(0, (ranges[0]?.[0] ?? 0) - snippetLead)
  let end = Math.min(body.length, start + snippetLength)
  start = Math.max(0, Math.min(start, end - snippetLength))
  // Never cut a character in two.
  if (start > 0 && isLowSurrogate(body, start)) start += 1
  if (end < body.length && isLowSurrogate(body, end)) end -= 1
  const prefix = start > 0 ? '…' : ''
  const suffix = end < body.length ? '…' : ''
  const shift = prefix.length - start
  const highlights = ranges
    .filter(([s, e]) => e > start && s < end)
    .map(([s, e]) => ({ start: Math.max(s, start) + shift, end: Math.min(e, end) + shift }))
  return { text: prefix + body.slice(start, end) + suffix, highlights }
}

// The cursor is opaque to clients: base64url of the last hit's message id.
const encodeCursor = encodeIdCursor
const decodeCursor = (cursor: string) => decodeIdCursor(cursor, 'before')

export interface SearchHit { message: MessageView, snippet: Snippet }

export interface SearchDeps {
  repo: SearchRepository
  /** DELETED_ACCOUNT_MESSAGES=erase */
  hideDeletedSenders: boolean
}

/** The repository's filter for these terms (also what the bench explains). */
export function searchFilter (userId: string, terms: SearchTerm[], opts: { conversationId?: string | undefined, beforeId?: string | undefined, limit: number, hideDeletedSenders: boolean }): SearchFilter {
  return {
    userId,
    patterns: terms.filter((t) => !t.whole).map((t) => likePattern(t.text)),
    words: terms.filter((t) => t.whole).map((t) => t.text),
    conversationId: opts.conversationId,
    beforeId: opts.beforeId,
    limit: opts.limit,
    hideDeletedSenders: opts.hideDeletedSenders
  }
}

export function createSearchService ({ repo, hideDeletedSenders }: SearchDeps) {
  /**
   * From the streaming replica when there is one: what it answers may be as old
   * as its lag (README "Reads from a replica"). One it cannot reach, or whose
   * WAL replay cancelled the statement, leaves the search to the primary.
   */
  async function read (filter: SearchFilter) {
    if (repo.hasReplica) {
      try {
        return await repo.messages(filter, 'replica')
      } catch (err) {
        if (!isDatabaseUnavailable(err) && !isRecoveryConflict(err)) throw err
      }
    }
    return await repo.messages(filter)
  }

  return {
    /** Messages of the caller's conversations that match q, newest first, within their membership windows. */
    async messages (userId: string, opts: { q: string, conversationId?: string | undefined, before?: string | undefined, limit: number }): Promise<{ hits: SearchHit[], nextCursor: string | null }> {
      const terms = parseQuery(opts.q)
      const beforeId = opts.before === undefined ? undefined : decodeCursor(opts.before)
      let rows
      try {
        rows = await read(searchFilter(userId, terms, { conversationId: opts.conversationId, beforeId, limit: opts.limit + 1, hideDeletedSenders }))
      } catch (err) {
        if (isStatementTimeout(err)) throw new AppError(400, 'QUERY_TOO_BROAD', 'The search took too long; add words, use longer ones, or give a conversationId')
        throw err
      }
      if (rows.length === 0 && opts.conversationId !== undefined && !(await repo.isMember(userId, opts.conversationId))) throw notFound('Conversation')
      const page = rows.slice(0, opts.limit)
      const last = page[page.length - 1]
      return {
        hits: page.map((m) => ({ message: toMessage(m), snippet: makeSnippet(m.body, terms) })),
        nextCursor: rows.length > opts.limit && last !== undefined ? encodeCursor(last.id) : null
      }
    }
  }
}

export type SearchService = ReturnType<typeof createSearchService>
