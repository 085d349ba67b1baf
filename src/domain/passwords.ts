// Password hashing with argon2id at the OWASP-recommended cost
// (19 MiB memory, 2 iterations, 1 lane), in a native addon off the event loop.
//
// Passwords are hashed and checked in Unicode NFKC (NIST SP 800-63B 5.1.1.2):
// keyboards and input methods differ in how they type one character ("é" as
// U+00E9, or "e" and the combining U+0301 on some macOS and iOS keyboards), and
// the same password must work from each. Hashes made before that are of the
// password as typed, so a check tries that too when it differs.
import { hash, verify } from '@node-rs/argon2'

// 2 is Algorithm.Argon2id, a const enum that isolated modules cannot import.
const STANDARD = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }
// PASSWORD_HASH_COST=test, which loadConfig takes only with NODE_ENV=test: still argon2id, at 1 MiB and one
// pass, for test suites that register thousands of users (the standard cost is about 30 ms of a core each).
const TEST = { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 }
let options = STANDARD

// Verifying against a real hash when the user does not exist keeps login's
// timing the same for unknown users and wrong passwords.
let decoy: Promise<string> | undefined

export type PasswordHashCost = 'standard' | 'test'

/**
 * The cost of the hashes this process makes from now on (the app sets it from its configuration at start).
 * Verification reads the cost from each hash, so hashes of either cost are checked alike.
 */
export function setPasswordHashCost (cost: PasswordHashCost): void {
  const next = cost === 'test' ? TEST : STANDARD
  if (next !== options) decoy = undefined
  options = next
}

/** The form a password is hashed and compared in, and measured in (schemas/users.ts). */
export const normalisePassword = (password: string) => password.normalize('NFKC')

/** Its length in characters (code points, as JSON Schema counts them) once normalised. */
export const passwordLength = (password: string) => [...normalisePassword(password)].length

export const hashPassword = (password: string) => hash(normalisePassword(password), options)

/**
 * Whether `password` is the one of this hash: its normalised form, or, when that
 * fails and the typed form differs, the typed form (a hash made before passwords
 * were normalised). A failure costs as many verifications whether or not the
 * account exists. There is no rehash on login: such a hash stays until the
 * password is changed or reset.
 */
export async function verifyPassword (passwordHash: string | undefined, password: string): Promise<boolean> {
  const normal = normalisePassword(password)
  const forms = normal === password ? [normal] : [normal, password]
  if (passwordHash === undefined) {
    decoy ??= hashPassword('decoy-password-for-unknown-users')
    const decoyHash = await decoy
    for (const form of forms) await verify(decoyHash, form).catch(() => false)
    return false
  }
  for (const form of forms) {
    if (await verify(passwordHash, form).catch(() => false)) return true
  }
  return false
}
