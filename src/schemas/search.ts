// Message search (README "Search, channels and invitations").
import { Type, type Static } from 'typebox'
import { Uuid } from './common.js'

export const SearchMessagesQuery = Type.Object({
  q: Type.String({
    description: 'Terms separated by spaces, all required, at most 200 characters and 8 terms. A term with three letters or digits in a row ' +
      'matches anywhere in a message, case-insensitively (parts of words, URLs, e-mail addresses, CJK text); a term of two letters or ' +
      'digits matches a whole word. Anything else: 400 INVALID_QUERY'
  }),
  conversationId: Type.Optional({ ...Uuid, description: 'Search only this conversation (404 unless the caller is a member)' }),
  before: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 20, description: 'Hits per page, 1-50' }))
})
export type SearchMessagesQuery = Static<typeof SearchMessagesQuery>

export const Snippet = Type.Object({
  text: Type.String({
    description: 'Up to 160 characters of the body around the first match, with an ellipsis (…) where it was cut. Plain text, not HTML and not ' +
      'HTML-escaped: show it as text (never as HTML), and mark the highlights yourself'
  }),
  highlights: Type.Array(Type.Object({
    start: Type.Integer({ minimum: 0 }),
    end: Type.Integer({ minimum: 0 })
  }), { description: 'Matches within text as [start, end) offsets in UTF-16 code units (JavaScript string indices), sorted, not overlapping' })
}, { $id: 'SearchSnippet', description: 'Where a message matched' })

export const SearchHit = Type.Object({
  message: Type.Ref('Message'),
  snippet: Type.Ref('SearchSnippet')
}, { $id: 'SearchHit' })

export const SearchPage = Type.Object({
  hits: Type.Array(Type.Ref('SearchHit'), { description: 'Newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as before for the next page; null on the last' })
})
