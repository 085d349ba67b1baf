// Which Web Push endpoints the server sends to (WEBPUSH_ENDPOINT_HOSTS): apart
// from the provider, so that checking one does not load the web-push library.

/**
 * Whether a subscription endpoint is on a push service the server sends to
 * (WEBPUSH_ENDPOINT_HOSTS: a host or any subdomain of it; `*` any). The
 * endpoint is a URL a user gives, which the server then POSTs to and whose
 * answer's status and first bytes the user reads in their deliveries: any host
 * would let a user probe the server's own network.
 */
export function webPushEndpointAllowed (endpoint: string, hosts: string[]): boolean {
  let host: string
  try {
    const url = new URL(endpoint)
    if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return false
    host = url.hostname.toLowerCase()
  } catch {
    return false
  }
  return hosts.some((allowed) => allowed === '*' || host === allowed || host.endsWith(`.${allowed}`))
}
