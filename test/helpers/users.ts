import { register, type Account, type Client } from './http.js'

/** Accounts that destructure without `undefined` (`const [a, b] = await users(api, 2)`). */
export type Accounts = Account[] & { 0: Account, 1: Account, 2: Account, 3: Account, 4: Account, 5: Account }

/** `n` fresh accounts, registered in parallel. */
export async function users (api: Client, n: number): Promise<Accounts> {
  return await Promise.all(Array.from({ length: n }, () => register(api))) as Accounts
}

/** Moves a refresh token's exchange an hour back, past REFRESH_REUSE_GRACE_SECONDS: presenting it again is a reuse. */
export async function ageRotation (server: { sql (text: string, params?: unknown[]): Promise<unknown[]> }, refreshToken: string): Promise<void> {
  await server.sql(`UPDATE refresh_tokens SET rotated_at = rotated_at - interval '1 hour'
    WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')`, [refreshToken])
}
