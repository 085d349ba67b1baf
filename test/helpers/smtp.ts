// A real SMTP server (the smtp-server package) on a free loopback port, for
// tests that read the mail the service sends.
import { SMTPServer } from 'smtp-server'
import { test as serverTest } from './server.js'

export interface ReceivedMail { to: string[], from: string, raw: string, text: string }

export interface TestSmtp {
  url: string
  mails: ReceivedMail[]
  /** Resolves with the first mail (not yet taken) to this address; fails after timeoutMs. */
  next (to: string, timeoutMs?: number): Promise<ReceivedMail>
  close (): Promise<void>
}

/** The body of a simple text mail, quoted-printable decoded. */
function bodyText (raw: string): string {
  const body = raw.slice(raw.search(/\r?\n\r?\n/) + 1)
  return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

export async function startSmtp (): Promise<TestSmtp> {
  const mails: ReceivedMail[] = []
  const taken = new Set<ReceivedMail>()
  const waiters = new Set<() => void>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        mails.push({
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          raw,
          text: bodyText(raw)
        })
        for (const w of waiters) w()
        callback()
      })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.server.address() as { port: number }
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    next (to, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const mail = mails.find((m) => !taken.has(m) && m.to.includes(to.toLowerCase()))
          if (mail === undefined) return
          taken.add(mail)
          waiters.delete(check)
          clearTimeout(timer)
          resolve(mail)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no mail to ${to} in ${timeoutMs} ms; got ${mails.length}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * The server fixture with `smtp`, a mail server of the file's own. A file
 * points the server at it with
 * `test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({ config: { smtpUrl: smtp.url, mailFrom } }))`;
 * the server then closes before the mail server does.
 */
export const test = serverTest
  // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern: none
  .extend('smtp', { scope: 'file' }, async ({}, { onCleanup }) => {
    const smtp = await startSmtp()
    onCleanup(() => smtp.close())
    return smtp
  })
