// What a device push says, before a provider shapes it: stored with each
// delivery, so a retry sends what was decided when the message arrived.
export type NoticeKind = 'message' | 'read' | 'test'

export interface Notice {
  kind: NoticeKind
  /** The visible title: the conversation title, or the sender for a direct conversation. Empty for silent pushes. */
  title: string
  /** The visible text: "<sender>: <preview>" in a group, the preview in a direct conversation; a generic line when previews are off. */
  body: string
  /** The user's total unread after this push. */
  badge: number
  conversationId?: string
  seq?: number
  messageId?: string
  senderId?: string
  senderName?: string
  /** Whether the message mentioned the recipient when queued: the rule asked again before each attempt reads it (never sent). */
  mentioned?: boolean
}

/** A notice silent on the device: it only sets the badge (read elsewhere). */
export const isSilent = (n: Notice) => n.kind === 'read'

/**
 * The collapse / thread id of a conversation: 32 characters of the UUID
 * (Web Push's Topic header takes at most 32 URL-safe characters; apns-collapse-id 64 bytes).
 */
export const collapseId = (conversationId: string) => conversationId.replaceAll('-', '')

/**
 * Renders with `render` and, while the result is larger than `limitBytes`,
 * shortens the notice's body (by code points, with an ellipsis). Returns
 * undefined when even an empty body does not fit.
 */
export function fit (notice: Notice, limitBytes: number, render: (n: Notice) => string): string | undefined {
  const full = render(notice)
  if (Buffer.byteLength(full) <= limitBytes) return full
  const points = [...notice.body]
  let lo = 0
  let hi = points.length - 1
  let best: string | undefined
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const text = render({ ...notice, body: mid === 0 ? '' : `${points.slice(0, mid).join('')}…` })
    if (Buffer.byteLength(text) <= limitBytes) {
      best = text
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return best
}

/** The app's own data fields, the same in every provider's payload (strings: FCM data takes only strings). */
export function dataFields (n: Notice): Record<string, string> {
  const data: Record<string, string> = { type: n.kind, badge: String(n.badge) }
  if (n.conversationId !== undefined) data.conversationId = n.conversationId
  if (n.seq !== undefined) data.seq = String(n.seq)
  if (n.messageId !== undefined) data.messageId = n.messageId
  if (n.senderId !== undefined) data.senderId = n.senderId
  return data
}
