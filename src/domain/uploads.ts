// Uploads and the files of attachments, avatars and group pictures.
// 1. create: limits are checked on what is declared (type, size per kind,
//    quota), a pending row is written and the client gets where to send the
//    bytes (a presigned PUT, or the app's own route for the local driver);
// 2. complete: the stored size must be the declared one, the real type is
//    read from the bytes, images get dimensions, metadata stripped, a
//    thumbnail and a placeholder; a refusal removes the object and the row.
//    What is stored is what counts: an image re-encoded without its metadata
//    can grow, and its new size is the one reported, held to the kind's limit
//    and to the quota again;
// 3. a post names ready uploads (post_messages attaches them); downloads get
//    short-lived signed URLs, only for members who can see the message.
// Files go when what holds them goes (message deleted, avatar replaced,
// account erased): rows are marked deleting in that transaction and purged
// after commit; the sweeper purges what a crash left and expires uploads never
// attached.
// Create, complete and the start of a local PUT go through a gate of
// `limits.concurrency` at a time per process: a burst of uploads (fifty
// clients completing together) would otherwise queue all its database calls
// and file work ahead of every post's next step on the event loop; behind the
// gate the uploads wait their turn and the posts and pushes keep theirs
// (README "Attachments", the bench's scenario 8). An image's work is not done
// in the gate: images are processed one at a time per process, taking turns
// by owner, bounded in frames and time (IMAGE_MAX_FRAMES, IMAGE_TIMEOUT_SECONDS),
// so one user's slow images hold up neither other users' requests nor, beyond
// one image, their images.
import { randomBytes } from 'node:crypto'
import { buffer } from 'node:stream/consumers'
import pLimit from 'p-limit'
import { createRepositories, type Database } from '../repositories/index.js'
import type { FileFacts } from '../repositories/messages.js'
import type { ReadyFacts, UploadKind, UploadRow } from '../repositories/uploads.js'
import { storageKeys, type Storage } from '../storage/storage.js'
import { AppError, notFound } from './errors.js'
import { newId } from './ids.js'
import { lockLive } from './live-accounts.js'
import { allowedType, inline, kindOf, processImage, sniff, SNIFF_BYTES, type ImageLimits } from './media.js'
import { createTurns } from './turns.js'

export interface UploadLimits {
  maxBytes: Record<UploadKind, number>
  allowedTypes: string[]
  quotaBytes: number
  uploadUrlTtlSeconds: number
  downloadUrlTtlSeconds: number
  unattachedTtlSeconds: number
  /** Thumbnail size, and the frames and time an image may take (THUMBNAIL_SIZE, IMAGE_MAX_FRAMES, IMAGE_TIMEOUT_SECONDS). */
  image: ImageLimits
  /** Upload requests one process works on at once (UPLOAD_CONCURRENCY). */
  concurrency: number
}

export interface UploadDeps extends Database {
  storage: Storage
  limits: UploadLimits
  onError (err: unknown, what: string): void
}

export interface UploadView extends FileFacts {
  state: 'pending' | 'ready' | 'attached' | 'avatar' | 'picture'
  conversationId: string | null
  kind: UploadKind
  createdAt: string
}

export interface CreateUploadInput { conversationId?: string | null | undefined, filename: string, contentType: string, size: number }

const toView = (u: UploadRow): UploadView => ({
  id: u.id,
  state: u.state as UploadView['state'],
  conversationId: u.conversationId,
  kind: u.kind as UploadKind,
  contentType: u.contentType,
  size: u.size,
  filename: u.filename,
  width: u.width,
  height: u.height,
  placeholder: u.placeholder,
  createdAt: u.createdAt.toISOString()
})

const tooLarge = (kind: UploadKind, max: number, more = '') => new AppError(413, 'FILE_TOO_LARGE', `A ${kind} upload may be at most ${max} bytes${more}`)
const unsupported = (message: string) => new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', message)
const overQuota = (quota: number) => new AppError(413, 'QUOTA_EXCEEDED', `Your uploads may take at most ${quota} bytes; delete some first`)

export function createUploadService (deps: UploadDeps) {
  const { storage, limits } = deps
  const repos = createRepositories(deps)
  const repo = repos.uploads
  const seconds = (s: number) => new Date(Date.now() + s * 1000).toISOString()
  const gate = pLimit(limits.concurrency)
  // One image at a time per process, taking turns by owner (see complete).
  const images = createTurns(1)

  /** Removes a refused upload: its object, then its row; nothing of it stays. */
  async function refuse (upload: UploadRow, error: AppError): Promise<never> {
    await storage.remove([upload.storageKey, ...(upload.thumbnailKey === null ? [] : [upload.thumbnailKey])])
    await repo.drop(upload.id)
    throw error
  }

  /** Removes the files of uploads marked deleting, then their rows; a failure is left for the next sweep. */
  async function purge (limit = 500): Promise<number> {
    const rows = await repo.deleting(limit)
    if (rows.length === 0) return 0
    // The incoming key too: an upload URL used again after completing leaves bytes there.
    await storage.remove(rows.flatMap((r) => [...new Set([r.storageKey, storageKeys(r.id).incoming]), ...(r.thumbnailKey === null ? [] : [r.thumbnailKey])]))
    await repo.dropDeleted(rows.map((r) => r.id))
    return rows.length
  }

  async function signed (u: UploadRow, variant: 'content' | 'thumbnail') {
    const expiresInSeconds = limits.downloadUrlTtlSeconds
    if (variant === 'thumbnail') {
      if (u.thumbnailKey === null) throw notFound('Thumbnail')
      return storage.downloadUrl(u.thumbnailKey, { expiresInSeconds, contentType: 'image/webp', filename: `${u.filename}.webp`, disposition: 'inline' })
    }
    return storage.downloadUrl(u.storageKey, {
      expiresInSeconds,
      contentType: u.contentType,
      filename: u.filename,
      disposition: inline(u.contentType) ? 'inline' : 'attachment'
    })
  }

  /** A refused completion: its own copy of the bytes, then the upload (see refuse). */
  async function refuseKept (upload: UploadRow, kept: string, error: AppError): Promise<never> {
    await storage.remove([kept])
    return refuse(upload, error)
  }

  /**
   * complete's checks: the stored size is the declared one, the real type read from the bytes is accepted
   * within its kind's limit. The bytes are first copied to a key of this completion's own, and checked there:
   * what is checked is what is kept, and bytes sent to the upload URL later (used again, or a PUT still in
   * flight) never reach it. Answers the upload as it is when it is not pending.
   */
  async function check (userId: string, id: string): Promise<UploadView | { upload: UploadRow, version: string, ready: ReadyFacts }> {
    const upload = await repo.find(id)
    if (upload === null || upload.ownerId !== userId || upload.state === 'deleting') throw notFound('Upload')
    if (upload.state !== 'pending') return toView(upload)
    if ((await storage.size(upload.storageKey)) === null) return settled(userId, id)
    const version = randomBytes(6).toString('hex')
    const kept = storageKeys(id).original(version)
    try {
      await storage.copy(upload.storageKey, kept, upload.contentType)
    } catch (err) {
      if ((await storage.size(upload.storageKey)) !== null) throw err
      return settled(userId, id)
    }
    const size = await storage.size(kept) ?? 0
    if (size !== upload.size) return refuseKept(upload, kept, new AppError(400, 'SIZE_MISMATCH', `Declared ${upload.size} bytes, received ${size}`))
    const contentType = await sniff(await storage.head(kept, SNIFF_BYTES), upload.contentType)
    if (contentType === null) return refuseKept(upload, kept, unsupported(`The bytes are not ${upload.contentType}`))
    if (!allowedType(limits.allowedTypes, contentType)) return refuseKept(upload, kept, unsupported(`The bytes are ${contentType}, which is not accepted`))
    const kind = kindOf(contentType)
    if (size > limits.maxBytes[kind]) return refuseKept(upload, kept, tooLarge(kind, limits.maxBytes[kind]))
    return { upload, version, ready: { kind, contentType, size, width: null, height: null, placeholder: null, thumbnailKey: null, thumbnailSize: 0, storageKey: kept } }
  }

  /**
   * complete's answer when the bytes are not (or no longer) at the upload's key. A completion of the same upload
   * running at once may have kept its copy, made it ready and removed them (this call found it pending a moment
   * before): the upload as it now is, as completing again answers. Still pending: nothing was sent yet.
   */
  async function settled (userId: string, id: string): Promise<UploadView> {
    const now = await repo.find(id)
    if (now === null || now.ownerId !== userId || now.state === 'deleting') throw notFound('Upload')
    if (now.state !== 'pending') return toView(now)
    throw new AppError(409, 'UPLOAD_INCOMPLETE', 'Nothing was uploaded yet: send the bytes to uploadUrl first')
  }

  /**
   * complete's last step: the upload is made ready with what was found, unless it was swept or completed meanwhile.
   * The quota counts what is stored: bytes stored beyond the declared ones (an image re-encoded without its
   * metadata can grow, and its thumbnail counts too) are checked against it again, and an upload they would take
   * past it is refused.
   */
  async function finish (upload: UploadRow, ready: ReadyFacts): Promise<UploadView> {
    const done = ready.size + ready.thumbnailSize > upload.size
      ? await repos.transaction((tx) => tx.uploads.markReadyWithinQuota(upload.id, upload.ownerId, ready, limits.quotaBytes))
      : await repo.markReady(upload.id, ready)
    const ours = [ready.storageKey, ...(ready.thumbnailKey === null ? [] : [ready.thumbnailKey])]
    if (done === 'over') {
      await storage.remove([...ours, upload.storageKey])
      throw overQuota(limits.quotaBytes)
    }
    if (done !== null) {
      await storage.remove([upload.storageKey])
      return toView(done)
    }
    // Swept (or completed by a concurrent call) meanwhile: this completion's files are not used.
    await storage.remove(ours)
    const now = await repo.find(upload.id)
    if (now === null || now.state === 'deleting') throw notFound('Upload')
    return toView(now)
  }

  return {
    purge,

    /** Fire-and-forget purge after a commit that released files. */
    release (): void {
      purge().catch((err: unknown) => deps.onError(err, 'could not remove released files; the sweeper retries'))
    },

    create: (userId: string, input: CreateUploadInput) => gate(async () => {
      const contentType = input.contentType.toLowerCase()
      if (!allowedType(limits.allowedTypes, contentType)) throw unsupported(`Uploads of ${contentType} are not accepted`)
      const kind = kindOf(contentType)
      if (input.size > limits.maxBytes[kind]) throw tooLarge(kind, limits.maxBytes[kind])
      const conversationId = input.conversationId ?? null
      if (conversationId !== null && (await repos.conversations.findMember(conversationId, userId)) === null) throw notFound('Conversation')
      const id = newId()
      // Pending, the upload's key is where its bytes are sent (see storageKeys); completing moves it.
      const storageKey = storageKeys(id).incoming
      const upload = await repos.transaction(async (tx) => {
        // Deleted meanwhile: 401, and no upload left behind its erasure (which marks the live account's uploads for removal).
        await lockLive(tx, userId)
        return tx.uploads.insertWithinQuota({
          id, ownerId: userId, conversationId, kind, filename: input.filename, contentType, size: input.size, storageKey
        }, limits.quotaBytes)
      })
      if (upload === null) throw overQuota(limits.quotaBytes)
      const target = await storage.uploadTarget(storageKey, { contentType, size: input.size, expiresInSeconds: limits.uploadUrlTtlSeconds })
      return { upload: toView(upload), uploadUrl: target.url, method: target.method, headers: target.headers, expiresAt: seconds(limits.uploadUrlTtlSeconds) }
    }),

    /** The pending upload a local-driver PUT writes (its declared size bounds the body). */
    pendingForWrite: (storageKey: string) => gate(async () => {
      const id = /^uploads\/([0-9a-f-]{36})\/(?:incoming|original)$/.exec(storageKey)?.[1]
      const upload = id === undefined ? null : await repo.find(id)
      // Only the key its URL was issued for, while it is pending.
      return upload?.state === 'pending' && upload.storageKey === storageKey ? upload : null
    }),

    /**
     * Checks the bytes that arrived and makes the upload ready; completing again answers the same.
     * Three steps: the checks (in the gate), an image's work (in its owner's turn, out of the gate),
     * then storing the result (in the gate again).
     */
    async complete (userId: string, id: string): Promise<UploadView> {
      const checked = await gate(() => check(userId, id))
      if (!('ready' in checked)) return checked
      const { upload, version, ready } = checked
      if (ready.kind !== 'image') return gate(() => finish(upload, ready))
      // An image waits for its turn and is worked on holding no upload slot: one user's slow images leave the
      // slots to everyone else's requests, and their turns come one at a time (createTurns), so another user's
      // image waits for the one being processed, not for all of theirs. The bytes are read only in the turn, so
      // images waiting hold none of them in memory.
      const image = await images(userId, async () => {
        const bytes = await buffer(await storage.read(ready.storageKey))
        try {
          return await processImage(bytes, ready.contentType, limits.image)
        } catch (err) {
          return err instanceof AppError ? err : unsupported(`The bytes are no image that can be decoded (${ready.contentType})`)
        }
      })
      if (image instanceof AppError) return gate(() => refuseKept(upload, ready.storageKey, image))
      // What is stored is what counts: the image without its metadata, whose size the limits apply to.
      const size = image.stripped?.length ?? ready.size
      if (size > limits.maxBytes.image) {
        return gate(() => refuseKept(upload, ready.storageKey,
          tooLarge('image', limits.maxBytes.image, `; without its metadata this one takes ${size}`)))
      }
      return gate(async () => {
        const thumbnailKey = storageKeys(id).thumbnail(version)
        await storage.write(thumbnailKey, image.thumbnail, 'image/webp')
        if (image.stripped !== null) await storage.write(ready.storageKey, image.stripped, ready.contentType)
        return finish(upload, {
          ...ready, size, width: image.width, height: image.height, placeholder: image.placeholder, thumbnailKey, thumbnailSize: image.thumbnail.length
        })
      })
    },

    /** Signed URLs of an attachment, for a member who can see its message. */
    async attachmentUrls (userId: string, id: string) {
      const upload = await repo.visibleAttachment(id, userId)
      if (upload === null) throw notFound('Attachment')
      return {
        url: await signed(upload, 'content'),
        thumbnailUrl: upload.thumbnailKey === null ? null : await signed(upload, 'thumbnail'),
        expiresAt: seconds(limits.downloadUrlTtlSeconds)
      }
    },

    /** One signed URL of an attachment (its bytes or its thumbnail), for a member who can see its message. */
    async attachmentUrl (userId: string, id: string, variant: 'content' | 'thumbnail'): Promise<string> {
      const upload = await repo.visibleAttachment(id, userId)
      if (upload === null) throw notFound('Attachment')
      return signed(upload, variant)
    },

    /** A signed URL of an avatar or group picture (public: its id is the secret, as a profile picture is shown to anyone who sees the profile). */
    async mediaUrlFor (id: string, variant: 'content' | 'thumbnail'): Promise<string> {
      const upload = await repo.media(id)
      if (upload === null) throw notFound('Picture')
      return signed(upload, variant)
    },

    /** Marks the uploads whose files go with these messages (in the deleting transaction). */
    releaseForMessages: (tx: { uploads: { markDeleting: typeof repo.markDeleting } }, messageIds: string[]) => tx.uploads.markDeleting({ messageIds }),

    /** One sweep: uploads never attached within the setting expire; deleted files are removed. */
    async sweep (): Promise<{ expired: number, purged: number }> {
      const expired = await repo.expireUnattached(new Date(Date.now() - limits.unattachedTtlSeconds * 1000), 500)
      let purged = 0
      for (let n = await purge(); n > 0; n = await purge()) purged += n
      return { expired, purged }
    }
  }
}

export type UploadService = ReturnType<typeof createUploadService>
