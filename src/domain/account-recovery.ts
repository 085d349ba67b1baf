// Email verification and password reset by mail. Codes and tokens are random
// and stored only as SHA-256 hashes. A reset request is answered before any
// of its work is done: the answer and its timing say nothing about which
// accounts exist. Requests are looked up one at a time, in order; their mails
// go out apart (a few at once), so a mail to an existing account does not
// delay the requests behind it. Each account is sent a few reset mails an hour
// at most, whoever asks: past that, a request is answered the same and does
// nothing (requests from many addresses could otherwise bomb a mailbox).
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import pLimit from 'p-limit'
import { createRepositories, type Database } from '../repositories/index.js'
import { AppError, unauthorized } from './errors.js'
import { hashPassword } from './passwords.js'
import { isUniqueViolation } from './prisma-errors.js'
import { inTransaction } from './event-log.js'
import { lockLive } from './live-accounts.js'
import { assertPasswordUnchanged } from './account-self.js'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const MAX_CODE_ATTEMPTS = 5
/** Reset mails sent at once (each its own SMTP exchange). */
const RESET_MAILS_AT_ONCE = 8

/** A mail to send; the port that mail/mailer.ts implements. */
export interface Mail { to: string, subject: string, text: string }

export interface Mailer {
  send (mail: Mail): Promise<void>
  close (): void
}

export interface AccountRecoveryDeps extends Database {
  mailer: Mailer | undefined
  /**
   * Counts a reset mail for the account: true while its mails of the hour
   * (from the first one counted) are within PASSWORD_RESET_MAILS_PER_HOUR,
   * this one included. Counted where the rate limits are (every process
   * together with BROKER=redis).
   */
  resetMailBudget (userId: string): Promise<boolean>
  resetTtlMinutes: number
  codeTtlMinutes: number
  onSessionsRevoked (sessionIds: string[], userId: string): void
  onError (err: unknown, what: string): void
}

const mailNotConfigured = () => new AppError(503, 'MAIL_NOT_CONFIGURED', 'This server sends no mail (SMTP_URL and MAIL_FROM are not set)')

export function createAccountRecoveryService (deps: AccountRecoveryDeps) {
  const repos = createRepositories(deps)
  const repo = repos.accounts
  let queue: Promise<void> = Promise.resolve()
  /** Reset mails on their way (RESET_MAILS_AT_ONCE at a time, outside the queue). */
  const sends = pLimit(RESET_MAILS_AT_ONCE)
  const sending = new Set<Promise<void>>()

  function mailer (): Mailer {
    if (deps.mailer === undefined) throw mailNotConfigured()
    return deps.mailer
  }

  async function sendReset (identifier: string): Promise<void> {
    const token = randomBytes(32).toString('base64url')
    const tokenHash = sha256(token)
    const user = await repo.findForReset(identifier.toLowerCase())
    if (user === null || user.email === null) return
    // Counted by account, not by the name asked for: its username and its email, in any case, are one budget.
    if (!(await deps.resetMailBudget(user.id))) return
    await repo.addReset({ tokenHash, userId: user.id, expiresAt: new Date(Date.now() + deps.resetTtlMinutes * 60_000) })
    // Sent apart from the queue: a mail in the queue held up the next request (another account's) for as long as
    // the mail server took, so the time one's own reset mail took to come told whether the one asked before existed.
    const sent = sends(() => mailer().send({
      to: user.email!,
      subject: 'Reset your password',
      text: `Someone asked to reset the password of ${user.username}. If it was you, use this token within ${deps.resetTtlMinutes} minutes:\n\n${token}\n\n` +
        'If it was not you, ignore this mail: your password stays as it is.'
    })).catch((err: unknown) => deps.onError(err, 'password reset mail failed'))
    sending.add(sent)
    void sent.finally(() => sending.delete(sent))
  }

  return {
    /** Queues a reset mail for the account of this username or verified email, if there is one; returns at once. */
    requestReset (identifier: string): void {
      mailer()
      queue = queue.then(() => sendReset(identifier)).catch((err: unknown) => deps.onError(err, 'password reset mail failed'))
    },

    /** Resolves when every reset request so far has been worked off (tests, shutdown). */
    idle: async (): Promise<void> => {
      await queue
      await Promise.all([...sending])
    },

    /** Sets the password with a mailed token (once); every session of the account ends. */
    async confirmReset (token: string, newPassword: string): Promise<void> {
      const passwordHash = await hashPassword(newPassword)
      const now = new Date()
      const tokenHash = sha256(token)
      const result = await repos.transaction(async ({ accounts: r }) => {
        // The account's row before its token's, as a deletion takes them (it erases the row, then deletes the tokens):
        // taken the other way round, the two could wait on each other.
        const owner = await r.resetOwner(tokenHash)
        if (owner === null || !(await r.lockLive([owner], 'update')).has(owner)) return null
        const userId = await r.useReset(tokenHash, now)
        if (userId === null) return null
        await r.setPassword(userId, passwordHash)
        await r.voidResets(userId, now)
        return { userId, ended: await r.revokeSessions(userId, {}, now) }
      })
      if (result === null) throw new AppError(400, 'INVALID_RESET_TOKEN', 'The reset token is unknown, used or expired')
      if (result.ended.length > 0) deps.onSessionsRevoked(result.ended, result.userId)
    },

    /**
     * Mails a code to the address; it becomes the account's email once the code comes back. The pending address is
     * stored under the account's row lock: a request racing the deletion lands before the erasure (which clears it)
     * or answers 401 and mails nothing.
     */
    /** `checkedHash`: the password hash the caller's password was checked against; changed meanwhile, 401 INVALID_CREDENTIALS. */
    async requestEmail (userId: string, email: string, checkedHash: string): Promise<void> {
      const send = mailer()
      const address = email.toLowerCase()
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
      const user = await inTransaction(repos, async (tx) => {
        await lockLive(tx, userId, [], 'update')
        const live = await assertPasswordUnchanged(tx, userId, checkedHash)
        await tx.accounts.setEmailChallenge(userId, { pendingEmail: address, emailCodeHash: sha256(code), emailCodeExpiresAt: new Date(Date.now() + deps.codeTtlMinutes * 60_000) })
        return live
      })
      await send.send({
        to: address,
        subject: 'Your verification code',
        text: `Your code to add this address to ${user.username}: ${code}\n\nIt works for ${deps.codeTtlMinutes} minutes.`
      }).catch((err: unknown) => {
        deps.onError(err, 'email code mail failed')
        throw new AppError(503, 'UNAVAILABLE', 'The mail could not be sent; retry shortly')
      })
    },

    /**
     * Checks a mailed code; five tries void it (each try is counted before the comparison, so parallel guesses get
     * five in all). The previous address, if any, is told of the change.
     */
    async verifyEmail (userId: string, code: string): Promise<{ email: string }> {
      const invalid = new AppError(400, 'INVALID_CODE', 'The code is wrong or expired; request a new one')
      const challenge = await repo.takeEmailAttempt(userId, MAX_CODE_ATTEMPTS, new Date())
      if (challenge === null) {
        if ((await repo.findLive(userId)) === null) throw unauthorized()
        throw invalid
      }
      if (!timingSafeEqual(Buffer.from(sha256(code)), Buffer.from(challenge.emailCodeHash))) throw invalid
      const email = challenge.pendingEmail
      let confirmed: boolean
      try {
        // Reset tokens mailed to the previous address end with it (its mailbox may be why the address changes).
        confirmed = await repos.transaction(async (tx) => {
          const now = new Date()
          if (!(await tx.accounts.confirmEmail(userId, challenge.emailCodeHash, email, now))) return false
          await tx.accounts.voidResets(userId, now)
          return true
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError(409, 'EMAIL_TAKEN', 'That address belongs to another account')
        throw err
      }
      // A new code was requested since this one was taken: this one no longer counts.
      if (!confirmed) throw invalid
      if (challenge.email !== null && challenge.email !== email) {
        const previous = challenge.email
        mailer().send({
          to: previous,
          subject: 'Your email address was changed',
          text: `The email address of ${challenge.username} is now ${maskAddress(email)}; password reset mails go there from now on.\n\n` +
            'If you did not make this change, sign in and change your password at once, then set your address again.'
        }).catch((err: unknown) => deps.onError(err, 'email change notice failed'))
      }
      return { email }
    }
  }
}

/** `jane.doe@example.com` → `j***@example.com`: enough to recognise, not to learn the address. */
function maskAddress (address: string): string {
  const at = address.lastIndexOf('@')
  return `${address.slice(0, 1)}***${address.slice(at)}`
}

export type AccountRecoveryService = ReturnType<typeof createAccountRecoveryService>
