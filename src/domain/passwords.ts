// Password hashing with argon2id at the OWASP-recommended cost
// (19 MiB memory, 2 iterations, 1 lane), in a native addon off the event loop.
import { hash, verify } from '@node-rs/argon2'

// 2 is Algorithm.Argon2id, a const enum that isolated modules cannot import.
const options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }

export const hashPassword = (password: string) => hash(password, options)

// Verifying against a real hash when the user does not exist keeps login's
// timing the same for unknown users and wrong passwords.
let decoy: Promise<string> | undefined

export async function verifyPassword (passwordHash: string | undefined, password: string): Promise<boolean> {
  if (passwordHash === undefined) {
    decoy ??= hashPassword('decoy-password-for-unknown-users')
    await verify(await decoy, password).catch(() => false)
    return false
  }
  return verify(passwordHash, password).catch(() => false)
}
