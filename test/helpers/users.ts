import { register, type Account, type Client } from './http.js'

/** Accounts that destructure without `undefined` (`const [a, b] = await users(api, 2)`). */
export type Accounts = Account[] & { 0: Account, 1: Account, 2: Account, 3: Account, 4: Account, 5: Account }

/** `n` fresh accounts, registered in parallel. */
export async function users (api: Client, n: number): Promise<Accounts> {
  return await Promise.all(Array.from({ length: n }, () => register(api))) as Accounts
}
