// The pair a refresh token was exchanged for, kept so that a concurrent or
// retried exchange of the same token (two tabs, a lost response) gets that
// same pair within a short grace window instead of tripping reuse detection.
// It is sealed (AES-256-GCM) with a key derived from the old token itself,
// which the database never holds (only its SHA-256): whoever reads the table
// learns no usable token, and only a holder of the old token can open it.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

export interface TokenPair { accessToken: string, refreshToken: string }

const INFO = 'switchboard refresh-token successor v1'
const IV_BYTES = 12
const TAG_BYTES = 16

// HKDF, not the stored SHA-256: the key is independent of what the table holds.
const keyOf = (oldToken: string) => Buffer.from(hkdfSync('sha256', oldToken, Buffer.alloc(0), INFO, 32))

/** `bindTo` (the old token's hash) ties the sealed pair to its row. */
export function sealSuccessor (oldToken: string, bindTo: string, pair: TokenPair): Uint8Array<ArrayBuffer> {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', keyOf(oldToken), iv).setAAD(Buffer.from(bindTo))
  const body = Buffer.concat([cipher.update(JSON.stringify([pair.accessToken, pair.refreshToken])), cipher.final()])
  const sealed = new Uint8Array(IV_BYTES + TAG_BYTES + body.length)
  sealed.set(iv, 0)
  sealed.set(cipher.getAuthTag(), IV_BYTES)
  sealed.set(body, IV_BYTES + TAG_BYTES)
  return sealed
}

/** The pair, or undefined when the seal does not open with this token. */
export function openSuccessor (oldToken: string, bindTo: string, sealed: Uint8Array): TokenPair | undefined {
  try {
    const buf = Buffer.from(sealed)
    const decipher = createDecipheriv('aes-256-gcm', keyOf(oldToken), buf.subarray(0, IV_BYTES)).setAAD(Buffer.from(bindTo))
    decipher.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    const [accessToken, refreshToken] = JSON.parse(Buffer.concat([decipher.update(buf.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString()) as [string, string]
    return { accessToken, refreshToken }
  } catch {
    return undefined
  }
}
