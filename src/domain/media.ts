// What an upload is, judged from its bytes, and what images get: dimensions,
// their metadata (EXIF with GPS, XMP, IPTC) stripped, a thumbnail and a tiny
// placeholder (a ThumbHash: about 25 bytes that clients decode into a blurred
// preview while the thumbnail loads).
import { fileTypeFromBuffer } from 'file-type'
import sharp, { type FormatEnum } from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'
import type { UploadKind } from '../repositories/uploads.js'
import { AppError } from './errors.js'

/** Bytes file-type needs to recognise every format it knows. */
export const SNIFF_BYTES = 4100

/** Images sharp decodes and re-encodes here; other image/* types are plain files. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif'])

export function kindOf (contentType: string): UploadKind {
  if (IMAGE_TYPES.has(contentType)) return 'image'
  if (contentType.startsWith('video/')) return 'video'
  if (contentType.startsWith('audio/')) return 'audio'
  return 'file'
}

/** Whether a type is served inline (media shown in place); everything else downloads as an attachment. */
export const inline = (contentType: string) => kindOf(contentType) !== 'file'

export function allowedType (allowed: string[], contentType: string): boolean {
  return allowed.some((a) => a === contentType || (a.endsWith('/*') && contentType.startsWith(a.slice(0, -1))))
}

/**
 * The real type of an upload from its first bytes. Formats with a signature
 * are named by it, whatever was declared; bytes without one (text) keep the
 * declared type only when that type has no signature either (text/*, JSON,
 * CSV...) and they hold no NUL byte. null: the bytes are not what was declared.
 */
export async function sniff (head: Buffer, declared: string): Promise<string | null> {
  const found = await fileTypeFromBuffer(head)
  if (found !== undefined) return found.mime
  const textual = declared.startsWith('text/') || declared === 'application/json' || declared === 'application/xml'
  return textual && !head.includes(0) ? declared : null
}

export interface ImageResult {
  width: number
  height: number
  /** The original without metadata, when it had any (else null: keep the bytes as they are). */
  stripped: Buffer | null
  thumbnail: Buffer
  placeholder: string
}

export interface ImageLimits {
  thumbnailSize: number
  /** Frames an animation may have (IMAGE_MAX_FRAMES). */
  maxFrames: number
  /** Time the work on one image may take (IMAGE_TIMEOUT_SECONDS). */
  timeoutSeconds: number
}

/** Decoding stops at this many pixels (a decompression bomb is refused, not decoded); an animation counts all its frames. */
const MAX_PIXELS = 100_000_000

/** libvips' refusal of an input past `limitInputPixels`, which it reads from the header alone. */
const PIXEL_LIMIT = /exceeds pixel limit/i

/**
 * Options of the re-encoding in the image's own format. AVIF is sharp's heif format, which takes no default
 * compression: without one every AVIF with metadata (as cameras write them) failed to encode and was refused.
 */
function encoding (contentType: string): Record<string, unknown> {
  if (contentType === 'image/jpeg') return { quality: 90, mozjpeg: false }
  if (contentType === 'image/avif') return { compression: 'av1' }
  return {}
}

const tooComplex = (message: string) => new AppError(400, 'IMAGE_TOO_COMPLEX', message)
const tooManyPixels = (pixels?: number) => tooComplex(
  `An image may have at most ${MAX_PIXELS} pixels (an animation: all its frames together)${pixels === undefined ? '' : `; this one has ${pixels}`}; send a smaller one`)

/** Thumbnail and placeholder of an image (its first frame); ThumbHash takes at most 100×100 pixels. */
export async function thumbnailOf (input: Buffer, size: number, timeoutSeconds = 0): Promise<{ thumbnail: Buffer, placeholder: string }> {
  const thumbnail = await sharp(input, { limitInputPixels: MAX_PIXELS }).timeout({ seconds: timeoutSeconds }).rotate()
    .resize(size, size, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 75 })
    .toBuffer()
  const { data, info } = await sharp(thumbnail).resize(100, 100, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true })
  const placeholder = Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64')
  return { thumbnail, placeholder }
}

/**
 * Processes an image upload; throws IMAGE_TOO_COMPLEX (an AppError) for an
 * image of more than MAX_PIXELS pixels (all frames of an animation counted),
 * an animation of more than `maxFrames` frames or work past `timeoutSeconds`,
 * and any other error when the bytes are no decodable image. The caller runs one
 * at a time per process (uploads.ts): a decode may hold the whole raster (an
 * image of MAX_PIXELS is 400 MB as RGBA once rotated), and libvips already
 * spreads one image over every core.
 */
export async function processImage (input: Buffer, contentType: string, limits: ImageLimits): Promise<ImageResult> {
  const deadline = Date.now() + limits.timeoutSeconds * 1000
  const tooSlow = () => tooComplex(`The image took more than ${limits.timeoutSeconds} s to process; send a smaller one`)
  // sharp counts whole seconds from the start of each pipeline; each gets what is left of the image's time.
  const left = () => {
    const ms = deadline - Date.now()
    if (ms <= 0) throw tooSlow()
    return { seconds: Math.ceil(ms / 1000) }
  }
  try {
    // Reads the header only: frames are counted before any is decoded.
    const meta = await sharp(input, { limitInputPixels: MAX_PIXELS }).metadata()
    const frames = meta.pages ?? 1
    if (frames > limits.maxFrames) throw tooComplex(`An animation may have at most ${limits.maxFrames} frames; this one has ${frames}`)
    // The header's limit is per frame; re-encoding an animation decodes every frame (README "Attachments").
    const pixels = meta.width * (meta.pageHeight ?? meta.height) * frames
    if (pixels > MAX_PIXELS) throw tooManyPixels(pixels)
    // Orientation 5-8 swaps width and height once applied.
    const swapped = (meta.orientation ?? 1) >= 5
    const width = swapped ? meta.height : meta.width
    const height = swapped ? meta.width : meta.height
    const tagged = meta.exif !== undefined || meta.xmp !== undefined || meta.iptc !== undefined || (meta.comments?.length ?? 0) > 0
    // sharp writes no metadata unless asked: re-encoding in the same format strips it.
    // Orientation is applied to the pixels first, so the stripped image still shows upright.
    const stripped = tagged
      ? await sharp(input, { limitInputPixels: MAX_PIXELS, animated: contentType === 'image/gif' || contentType === 'image/webp' })
        .timeout(left()).rotate()
        .toFormat(meta.format as keyof FormatEnum, encoding(contentType))
        .toBuffer()
      : null
    const { thumbnail, placeholder } = await thumbnailOf(input, limits.thumbnailSize, left().seconds)
    return { width, height, stripped, thumbnail, placeholder }
  } catch (err) {
    if (err instanceof AppError) throw err
    // A single frame past the limit is refused by libvips from its header, before any decode.
    if (PIXEL_LIMIT.test((err as Error).message)) throw tooManyPixels()
    // sharp stops a pipeline past its timeout with "timeout: N% complete".
    if (/\btimeout\b/.test((err as Error).message) || Date.now() >= deadline) throw tooSlow()
    throw err
  }
}
