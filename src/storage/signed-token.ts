// Signed, expiring tokens of the local driver's URLs: what the bearer may do
// (PUT or GET) with which key, until when. HMAC-SHA256 with a key derived from
// the app's secret; nothing is stored, so a URL works until it expires.
import { createHmac, timingSafeEqual } from 'node:crypto'

export interface StorageGrant {
  /** PUT (upload) or GET (download). */
  m: 'PUT' | 'GET'
  k: string
  /** Expiry, Unix seconds. */
  e: number
  /** PUT: the most bytes accepted. */
  s?: number
  /** GET: Content-Type, filename and disposition served. */
  t?: string
  n?: string
  d?: 'inline' | 'attachment'
}

export function createSigner (secret: string) {
  const key = createHmac('sha256', secret).update('switchboard storage urls').digest()
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url')
  return {
    sign (grant: StorageGrant): string {
      const payload = Buffer.from(JSON.stringify(grant)).toString('base64url')
      return `${payload}.${mac(payload)}`
    },

    /** The grant of a token that is intact, of this method and not expired; else null. */
    verify (token: string, method: 'PUT' | 'GET', now = Date.now()): StorageGrant | null {
      const [payload, sig, ...rest] = token.split('.')
      if (payload === undefined || sig === undefined || rest.length > 0) return null
      const expected = Buffer.from(mac(payload))
      const given = Buffer.from(sig)
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null
      let grant: StorageGrant
      try {
        grant = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as StorageGrant
      } catch {
        return null
      }
      if (grant.m !== method || typeof grant.k !== 'string' || typeof grant.e !== 'number' || grant.e * 1000 < now) return null
      return grant
    }
  }
}

export type Signer = ReturnType<typeof createSigner>
