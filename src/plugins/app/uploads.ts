// Storage (STORAGE_DRIVER) and the upload service, with the sweeper that
// expires uploads never attached and removes files a crash left behind.
import fp from 'fastify-plugin'
import { join } from 'node:path'
import { ConfigError } from '../../config.js'
import { createUploadService, type UploadService } from '../../domain/uploads.js'
import { createLocalStorage, type LocalStorage } from '../../storage/local.js'
import { createS3Storage } from '../../storage/s3.js'
import { ByteRate } from '../../storage/byte-rate.js'
import { createSigner } from '../../storage/signed-token.js'
import type { Storage } from '../../storage/storage.js'

declare module 'fastify' {
  interface FastifyInstance {
    storage: Storage
    /** The local driver, when it is the one in use (its routes receive and serve the bytes). */
    localStorage: LocalStorage | null
    uploads: UploadService
  }
}

export default fp<{ secret: string }>(async (app, opts) => {
  const { config } = app
  let storage: Storage
  let local: LocalStorage | null = null
  if (config.storageDriver === 's3') {
    if (config.s3Bucket === undefined) throw new ConfigError('Invalid configuration: S3_BUCKET is required when STORAGE_DRIVER=s3')
    if ((config.s3AccessKeyId === undefined) !== (config.s3SecretAccessKey === undefined)) {
      throw new ConfigError('Invalid configuration: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are set together or not at all')
    }
    storage = createS3Storage({
      bucket: config.s3Bucket,
      region: config.s3Region,
      endpoint: config.s3Endpoint,
      forcePathStyle: config.s3ForcePathStyle,
      credentials: config.s3AccessKeyId === undefined ? undefined : { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey! }
    })
  } else {
    local = createLocalStorage({ root: config.storageLocalDir ?? join(config.dataDir, 'uploads'), signer: createSigner(opts.secret), rate: new ByteRate(config.uploadBytesPerSecond) })
    storage = local
  }
  const uploads = createUploadService({
    ...app.db,
    storage,
    limits: {
      maxBytes: { image: config.uploadMaxImageBytes, video: config.uploadMaxVideoBytes, audio: config.uploadMaxAudioBytes, file: config.uploadMaxFileBytes },
      allowedTypes: config.uploadAllowedTypes,
      quotaBytes: config.uploadQuotaBytes,
      uploadUrlTtlSeconds: config.uploadUrlTtlSeconds,
      downloadUrlTtlSeconds: config.downloadUrlTtlSeconds,
      unattachedTtlSeconds: config.uploadUnattachedTtlSeconds,
      image: { thumbnailSize: config.thumbnailSize, maxFrames: config.imageMaxFrames, timeoutSeconds: config.imageTimeoutSeconds },
      concurrency: config.uploadConcurrency
    },
    onError: (err, what) => app.log.warn({ err }, what)
  })
  app.decorate('storage', storage)
  app.decorate('localStorage', local)
  app.decorate('uploads', uploads)

  // One sweep at a time; the timer does not keep the process alive.
  let sweeping: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const sweep = () => {
    sweeping = uploads.sweep()
      .then((r) => { if (r.expired + r.purged > 0) app.log.info(r, 'swept uploads') })
      .catch((err: unknown) => app.log.warn({ err }, 'upload sweep failed; retried at the next'))
  }
  app.addHook('onReady', async () => {
    timer = setInterval(() => { void sweeping.then(sweep) }, config.uploadSweepIntervalMs).unref()
  })
  app.addHook('preClose', async () => {
    clearInterval(timer)
    await sweeping
  })
  app.addHook('onClose', async () => { await storage.close() })
}, { name: 'uploads', dependencies: ['db', 'config'] })
