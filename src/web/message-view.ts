// How the page shows one message: sender and time, the quoted reply,
// attachments (an image's thumbnail sized before it loads, a link for other
// files), the body with its links, reactions, read ticks and the actions; and
// a message still in the outbox. Built as DOM nodes, never as HTML.
import type { Attachment, Conversation, Message, User } from '../client/index.js'
import type { Pending } from './outbox.js'
import { h, linkify, time } from './dom.js'

export const nameOf = (c: Conversation | undefined, userId: string) => c?.members.find((x) => x.user.id === userId)?.user.displayName ?? 'Someone'
export const excerpt = (m: Message) => m.deletedAt !== null ? 'Message deleted' : m.body !== '' ? m.body.slice(0, 80) : m.attachments.length > 0 ? 'Photo' : ''

export interface MessageViewDeps {
  me: () => User | undefined
  conversation: (id: string) => Conversation | undefined
  /** A message of the open conversation already on the page (for the quote of a reply). */
  messageById: (id: string) => Message | undefined
  /** Signed URLs of an attachment. */
  urls: (id: string) => Promise<{ url: string, thumbnailUrl: string | null }>
}

function actionButton (label: string, action: string, id: string): HTMLElement {
  return h('button', { type: 'button', class: 'link', 'data-action': action, 'data-id': id }, label)
}

export function createMessageView (deps: MessageViewDeps) {
  const { me } = deps

  /** Signed URLs of attachments, fetched once per page (they live for minutes; a reload fetches new ones). */
  const signedUrls = new Map<string, Promise<{ url: string, thumbnailUrl: string | null }>>()
  const urlsOf = (id: string) => {
    let urls = signedUrls.get(id)
    if (urls === undefined) {
      urls = deps.urls(id)
      urls.catch(() => signedUrls.delete(id))
      signedUrls.set(id, urls)
    }
    return urls
  }

  /** An attachment: a thumbnail for images (sized before it loads), a download link for anything else. */
  function attachmentItem (a: Attachment): HTMLElement {
    if (a.kind === 'image' && a.thumbnailUrl !== null) {
      const img = h('img', { class: 'thumb', alt: a.filename, 'data-attachment': a.id }) as HTMLImageElement
      if (a.width !== null && a.height !== null) img.style.aspectRatio = `${a.width} / ${a.height}`
      void urlsOf(a.id).then((u) => { if (u.thumbnailUrl !== null) img.src = u.thumbnailUrl }).catch(() => {})
      const link = h('a', { class: 'attachment', target: '_blank', rel: 'noopener noreferrer' }, img)
      void urlsOf(a.id).then((u) => link.setAttribute('href', u.url)).catch(() => {})
      return link
    }
    const link = h('a', { class: 'attachment file', target: '_blank', rel: 'noopener noreferrer' }, `${a.filename} (${Math.ceil(a.size / 1024)} KB)`)
    void urlsOf(a.id).then((u) => link.setAttribute('href', u.url)).catch(() => {})
    return link
  }

  /** ✓ stored; ✓✓ read by every other member. */
  function ticks (c: Conversation | undefined, m: Message): HTMLElement {
    const others = c?.members.filter((x) => x.user.id !== me()?.id) ?? []
    const read = others.length > 0 && others.every((x) => x.lastReadSeq >= m.seq)
    return h('span', { class: `ticks${read ? ' read' : ''}`, 'aria-label': read ? 'Read' : 'Sent' }, read ? '✓✓' : '✓')
  }

  return {
    /** Forgets the signed URLs (at logout: they belong to the user who could see those attachments). */
    clear (): void {
      signedUrls.clear()
    },

    messageItem (m: Message): HTMLElement {
      const conversation = deps.conversation(m.conversationId)
      const mine = m.senderId === me()?.id
      const deleted = m.deletedAt !== null
      const classes = ['message', mine ? 'mine' : '', deleted ? 'deleted' : ''].filter(Boolean).join(' ')
      const quoted = m.replyToId === null ? undefined : deps.messageById(m.replyToId)
      return h('li', { class: classes, 'data-seq': String(m.seq), 'data-id': m.id },
        h('span', { class: 'meta' }, `${nameOf(conversation, m.senderId)} · ${time(m.createdAt)}${m.editedAt !== null && !deleted ? ' · edited' : ''}`),
        m.replyToId === null || deleted ? null : h('span', { class: 'quote' }, quoted === undefined ? 'Reply to an earlier message' : `${nameOf(conversation, quoted.senderId)}: ${excerpt(quoted)}`),
        !deleted && m.attachments.length > 0 ? h('span', { class: 'attachments' }, ...m.attachments.map(attachmentItem)) : null,
        deleted ? h('span', { class: 'body' }, 'Message deleted') : m.body === '' ? null : h('span', { class: 'body' }, ...linkify(m.body)),
        !deleted && (m.reactions?.length ?? 0) > 0
          ? h('span', { class: 'reactions' }, ...(m.reactions ?? []).map((r) =>
            h('button', { type: 'button', class: `reaction${r.me ? ' me' : ''}`, 'data-action': 'toggle-reaction', 'data-id': m.id, 'data-emoji': r.emoji, 'aria-pressed': r.me ? 'true' : 'false', 'aria-label': `${r.emoji} ${r.count}` }, `${r.emoji} ${r.count}`)))
          : null,
        mine && !deleted ? h('span', { class: 'status-line' }, ticks(conversation, m)) : null,
        deleted
          ? null
          : h('span', { class: 'actions' },
            actionButton('React', 'react', m.id),
            actionButton('Reply', 'reply', m.id),
            mine && m.body !== '' ? actionButton('Edit', 'edit', m.id) : null,
            mine ? actionButton('Delete', 'delete', m.id) : null))
    },

    /** A message the outbox has not got acknowledged yet: sending, or failed with retry and discard. */
    pendingItem (p: Pending): HTMLElement {
      const failed = p.state === 'failed'
      return h('li', { class: `message mine pending${failed ? ' failed' : ''}`, 'data-client-id': p.clientMessageId },
        h('span', { class: 'meta' }, `${me()?.displayName ?? ''} · ${time(p.createdAt)}`),
        h('span', { class: 'body' }, ...linkify(p.body)),
        h('span', { class: 'status-line' }, failed ? `Not sent: ${p.error ?? ''}` : 'Sending…'),
        failed ? h('span', { class: 'actions' }, actionButton('Retry', 'retry', p.clientMessageId), actionButton('Discard', 'discard', p.clientMessageId)) : null)
    }
  }
}
