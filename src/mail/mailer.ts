// Account mail over SMTP (nodemailer). Without SMTP_URL there is no mailer,
// and the routes that need one answer 503 MAIL_NOT_CONFIGURED.
import nodemailer from 'nodemailer'
import type { Mailer } from '../domain/account-recovery.js'

export function createMailer (opts: { smtpUrl: string | undefined, from: string | undefined }): Mailer | undefined {
  if (opts.smtpUrl === undefined || opts.from === undefined) return undefined
  const transport = nodemailer.createTransport(opts.smtpUrl)
  return {
    async send (mail) {
      await transport.sendMail({ from: opts.from, to: mail.to, subject: mail.subject, text: mail.text })
    },
    close: () => transport.close()
  }
}
