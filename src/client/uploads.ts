// Uploads (README "Attachments"): start, send the bytes to the upload URL
// with progress, complete. Progress comes from XMLHttpRequest's upload events
// where there is one (browsers, React Native); elsewhere (Node) the body is
// streamed to fetch in chunks and counted as fetch takes them.
import { ApiError } from './errors.js'
import type { Transport } from './transport.js'
import type { AttachmentUrls, CreatedUpload, CreateUploadBody, Upload } from './types.js'

export interface UploadProgress { loaded: number, total: number }

/** What can be uploaded: a Blob or File (browsers), or bytes. */
export type UploadData = Blob | ArrayBuffer | Uint8Array

export interface UploadOptions {
  /** Defaults to the File's name, else "file". */
  filename?: string
  /** Defaults to the Blob's type, else one guessed from the filename's extension, else application/octet-stream (the server reads the real type from the bytes). */
  contentType?: string
  onProgress?: (progress: UploadProgress) => void
  signal?: AbortSignal
}

interface XhrLike {
  open (method: string, url: string): void
  setRequestHeader (name: string, value: string): void
  send (body: unknown): void
  abort (): void
  status: number
  responseText: string
  upload: { onprogress: ((e: { loaded: number, total: number }) => void) | null }
  onload: (() => void) | null
  onerror: (() => void) | null
  onabort: (() => void) | null
}

const CHUNK = 64 * 1024

/** Types of the default UPLOAD_ALLOWED_TYPES by extension, for data that carries no type (the server checks the bytes anyway). */
const BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif',
  mp4: 'video/mp4', webm: 'video/webm', mov: 'video/quicktime', mp3: 'audio/mpeg', ogg: 'audio/ogg', m4a: 'audio/mp4',
  wav: 'audio/wav', pdf: 'application/pdf', zip: 'application/zip', txt: 'text/plain'
}

const sizeOf = (data: UploadData) => data instanceof ArrayBuffer ? data.byteLength : data instanceof Uint8Array ? data.byteLength : data.size

/** The upload's error, as the API's other calls throw them. */
function failure (status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { code?: string, message?: string }
    return new ApiError(status, body.code ?? 'UPLOAD_FAILED', body.message ?? `upload failed with ${status}`)
  } catch {
    return new ApiError(status, 'UPLOAD_FAILED', `upload failed with ${status}`)
  }
}

function putWithXhr (Xhr: new () => XhrLike, url: string, headers: Record<string, string>, data: UploadData, total: number, opts: UploadOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new Xhr()
    xhr.open('PUT', url)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => opts.onProgress?.({ loaded: e.loaded, total })
    xhr.onload = () => xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(failure(xhr.status, xhr.responseText))
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK_ERROR', 'The upload did not reach the server'))
    xhr.onabort = () => reject(new ApiError(0, 'ABORTED', 'The upload was aborted'))
    opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(data)
  })
}

async function putWithFetch (url: string, headers: Record<string, string>, data: UploadData, total: number, opts: UploadOptions): Promise<void> {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer())
  let offset = 0
  const body = new ReadableStream<Uint8Array>({
    pull (controller) {
      if (offset >= bytes.byteLength) {
        controller.close()
        return
      }
      const chunk = bytes.subarray(offset, Math.min(offset + CHUNK, bytes.byteLength))
      offset += chunk.byteLength
      controller.enqueue(chunk)
      opts.onProgress?.({ loaded: offset, total })
    }
  })
  let res: Response
  try {
    res = await fetch(url, { method: 'PUT', headers: { ...headers, 'content-length': String(total) }, body, duplex: 'half', ...(opts.signal === undefined ? {} : { signal: opts.signal }) } as RequestInit)
  } catch {
    throw new ApiError(0, 'NETWORK_ERROR', 'The upload did not reach the server')
  }
  if (!res.ok) throw failure(res.status, await res.text())
}

export function createUploads (t: Transport) {
  /** Upload URLs and signed URLs are absolute (s3) or relative to the API (local). */
  const resolve = (url: string) => /^https?:\/\//i.test(url) ? url : t.baseUrl + url

  const uploads = {
    resolve,
    /** Step 1: declare the file; answers where to send the bytes. */
    create: (body: CreateUploadBody) => t.request<CreatedUpload>('POST', '/v1/uploads', { body }),
    /** Step 3: checks the bytes that arrived (size, real type) and makes thumbnails. */
    complete: (id: string) => t.request<Upload>('POST', `/v1/uploads/${encodeURIComponent(id)}/complete`),

    /**
     * The three steps: create, send the bytes (reporting progress), complete.
     * `conversationId` null uploads an avatar or group picture. Post the
     * answer's id with messages.send(id, { body, attachments: [upload.id] }).
     */
    async upload (conversationId: string | null, data: UploadData, opts: UploadOptions = {}): Promise<Upload> {
      const total = sizeOf(data)
      const named = (data as { name?: unknown }).name
      const typed = (data as { type?: unknown }).type
      const filename = opts.filename ?? (typeof named === 'string' && named !== '' ? named : 'file')
      const guessed = BY_EXTENSION[/\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '']
      const created = await uploads.create({
        conversationId,
        filename,
        contentType: opts.contentType ?? (typeof typed === 'string' && typed !== '' ? typed : guessed ?? 'application/octet-stream'),
        size: total
      })
      const Xhr = (globalThis as { XMLHttpRequest?: new () => XhrLike }).XMLHttpRequest
      const url = resolve(created.uploadUrl)
      if (Xhr !== undefined) await putWithXhr(Xhr, url, created.headers, data, total, opts)
      else await putWithFetch(url, created.headers, data, total, opts)
      opts.onProgress?.({ loaded: total, total })
      return uploads.complete(created.upload.id)
    },

    /** Short-lived signed URLs of an attachment (only for members who can see its message). */
    async urls (attachmentId: string): Promise<AttachmentUrls> {
      const urls = await t.request<AttachmentUrls>('GET', `/v1/attachments/${encodeURIComponent(attachmentId)}`)
      return { ...urls, url: resolve(urls.url), thumbnailUrl: urls.thumbnailUrl === null ? null : resolve(urls.thumbnailUrl) }
    }
  }
  return uploads
}
