// Browsers authenticate the WebSocket upgrade with ?access_token=..., so the
// request URL that goes to the log loses the values of such parameters. The
// query parser decodes names (`access%5Ftoken` is access_token to it, and
// authenticates), so names are compared as that parser reads them, not as spelled.

const SECRET_PARAMS = new Set(['access_token'])

/** A query name as the router's parser (fast-querystring) reads it: `+` is a space, then percent-decoding if well-formed. */
function decodeName (raw: string): string {
  const name = raw.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(name)
  } catch {
    return name
  }
}

/** How many values the parsed query holds for secret parameters. */
function secretValues (query: unknown): number {
  if (typeof query !== 'object' || query === null) return 0
  let n = 0
  for (const name of SECRET_PARAMS) {
    const value = (query as Record<string, unknown>)[name]
    if (value !== undefined) n += Array.isArray(value) ? value.length : 1
  }
  return n
}

// Invite codes travel in the path (POST /v1/invites/:code/accept, DELETE
// /v1/conversations/:id/invites/:code): stored hashed, they would be in
// plain text in every request line of the log, and reading the log would let anyone join.
const SECRET_PATHS = [/^(\/v1\/invites\/)[^/?#]+/, /^(\/v1\/conversations\/[^/?#]+\/invites\/)[^/?#]+/]

/** The request URL for the log, invite codes and each secret parameter's value replaced by [redacted]. */
export function redactUrl (raw: string, query: unknown): string {
  const url = SECRET_PATHS.reduce((u, re) => u.replace(re, '$1[redacted]'), raw)
  // The router splits the query off at the first ? or #.
  const at = url.search(/[?#]/)
  if (at === -1) return url
  let redacted = 0
  const pairs = url.slice(at + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    if (!SECRET_PARAMS.has(decodeName(name))) return pair
    redacted++
    return `${name}=[redacted]`
  })
  // Should the parser ever read a name this does not, drop the whole query rather than leak it.
  if (redacted < secretValues(query)) return `${url.slice(0, at + 1)}[redacted]`
  return `${url.slice(0, at + 1)}${pairs.join('&')}`
}
