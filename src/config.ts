// The one place that reads the environment. Every setting is declared here with
// its default; `.env.example` mirrors this list. Values are validated once, at
// start-up, and a wrong value stops the process with a message naming it.
import { envSchema } from 'env-schema'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Type, type Static, type TSchema } from 'typebox'

const Int = (min: number, max: number, def: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description })

// Each setting is declared once: its AppConfig key, its environment variable
// and its schema (bounds, default, description). EnvSchema and AppConfig are
// both derived from this list, so a variable cannot be read without reaching
// the config, nor a field added without its variable. Settings marked INPUT
// are read but not copied: loadConfig turns them into computed fields.
const INPUT = 'input'
type Setting = readonly [name: string, schema: TSchema, role?: typeof INPUT]

export const SETTINGS = {
  env: ['NODE_ENV', Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' })],
  passwordHashCost: ['PASSWORD_HASH_COST', Type.Union([Type.Literal('standard'), Type.Literal('test')], { default: 'standard', description: 'argon2id cost of new password hashes: standard (19 MiB, 2 passes, as OWASP recommends) or test (1 MiB, 1 pass; only with NODE_ENV=test, for test suites)' })],
  host: ['HOST', Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the HTTP server binds to' })],
  port: ['PORT', Int(0, 65535, 3000, 'HTTP port (0 picks a free one)')],
  listenBacklog: ['LISTEN_BACKLOG', Int(1, 65535, 4096, 'Connections the kernel holds for the server to accept (a reconnect storm opens thousands at once; capped by net.core.somaxconn)')],
  logLevel: ['LOG_LEVEL', Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' })],
  trustProxy: ['TRUST_PROXY', Type.String({ default: 'false', description: 'Proxies in front whose X-Forwarded-For is trusted: false, their number (hops), or their addresses and CIDR ranges (comma-separated)' }), INPUT],
  corsOrigins: ['CORS_ORIGINS', Type.String({ default: '', description: 'Comma-separated allowed browser origins; empty allows none' }), INPUT],

  databaseUrl: ['DATABASE_URL', Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL URL; unset starts the embedded database' }))],
  databaseReplicaUrl: ['DATABASE_REPLICA_URL', Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'A streaming replica of DATABASE_URL: history pages and event replays read there when it has caught up with what the reader knows' }))],
  databasePoolSize: ['DATABASE_POOL_SIZE', Int(1, 200, 10, 'Connections in the pool of each process')],
  postPoolSize: ['POST_POOL_SIZE', Int(1, 16, 2, 'Connections of each process for the group commit of posts, apart from the main pool: at most this many post_messages calls run at once, and posts never wait behind other requests for a connection')],
  databaseConnectTimeoutMs: ['DATABASE_CONNECT_TIMEOUT_MS', Int(100, 60000, 3000, 'Give up connecting to PostgreSQL after this long (requests answer 503)')],
  databaseStatementTimeoutMs: ['DATABASE_STATEMENT_TIMEOUT_MS', Int(100, 600000, 15000, 'Cancel any statement running longer than this')],
  dataDir: ['DATA_DIR', Type.String({ minLength: 1, default: '.data', description: 'Folder for local state: embedded database, development secret' })],
  embeddedPgPort: ['EMBEDDED_PG_PORT', Int(0, 65535, 0, 'Port of the embedded PostgreSQL (0 picks a free one)')],

  jwtSecret: ['JWT_SECRET', Type.Optional(Type.String({ minLength: 32, description: 'HMAC key for access tokens; required in production' }))],
  accessTokenTtlSeconds: ['ACCESS_TOKEN_TTL_SECONDS', Int(10, 86400, 900, 'Lifetime of an access token')],
  sessionsPerUser: ['SESSIONS_PER_USER', Int(1, 10000, 100, 'Live sessions (logged-in devices) one user keeps; a login past them ends the one used longest ago')],
  refreshTokenTtlSeconds: ['REFRESH_TOKEN_TTL_SECONDS', Int(60, 31536000, 2592000, 'A refresh token unused for this long expires')],
  sessionHistoryDays: ['SESSION_HISTORY_DAYS', Int(0, 3650, 30, 'Ended sessions (logged out, revoked or lapsed) are kept this long, in the data export, then deleted with their tokens')],
  retentionSweepIntervalMs: ['RETENTION_SWEEP_INTERVAL_MS', Int(100, 86400000, 3600000, 'How often lapsed sessions, expired refresh tokens, old ended sessions and old password resets are swept')],
  refreshReuseGraceSeconds: ['REFRESH_REUSE_GRACE_SECONDS', Int(0, 60, 5, 'A refresh token exchanged this recently gets the same new pair again (concurrent tabs, retries) instead of revoking the session')],

  bodyLimitBytes: ['BODY_LIMIT_BYTES', Int(1024, 10485760, 65536, 'Largest accepted request body')],
  authRateLimitMax: ['AUTH_RATE_LIMIT_MAX', Int(1, 100000, 30, 'Register or login requests per client address per window')],
  authRateLimitWindowMs: ['AUTH_RATE_LIMIT_WINDOW_MS', Int(1000, 3600000, 60000, 'Window of AUTH_RATE_LIMIT_MAX')],
  loginRateLimitPerUsername: ['LOGIN_RATE_LIMIT_PER_USERNAME', Int(1, 100000, 20, 'Login attempts per username per 15 minutes, from every address together (whether or not the account exists)')],
  emailCodesPerDay: ['EMAIL_CODES_PER_DAY', Int(1, 1000, 10, 'Email codes (POST /v1/me/email) one account may ask for per day')],
  passwordResetMailsPerHour: ['PASSWORD_RESET_MAILS_PER_HOUR', Int(1, 100000, 3, 'Password-reset mails one account is sent per hour, whoever asks from wherever; past it a request answers the same 202 and mails nothing')],
  postRateLimitPerSecond: ['POST_RATE_LIMIT_PER_SECOND', Int(1, 100000, 30, 'Messages one user may post per second')],
  profileRateLimitPerMinute: ['PROFILE_RATE_LIMIT_PER_MINUTE', Int(1, 10000, 10, 'Profile changes (PATCH /v1/me: each tells every contact) one user may make per minute')],
  membershipRateLimitPerMinute: ['MEMBERSHIP_RATE_LIMIT_PER_MINUTE', Int(1, 100000, 60, 'Conversations one user may create or open, and member additions they may make, per minute')],
  messageMaxLength: ['MESSAGE_MAX_LENGTH', Int(1, 100000, 4000, 'Longest message body in characters')],
  groupMaxMembers: ['GROUP_MAX_MEMBERS', Int(2, 100000, 1000, 'Most members a group may have')],
  conversationMembersPreview: ['CONVERSATION_MEMBERS_PREVIEW', Int(2, 100, 10, 'Members shown with each conversation of the list (all of them: GET /v1/conversations/:id/members)')],
  searchStatementTimeoutMs: ['SEARCH_STATEMENT_TIMEOUT_MS', Int(100, 60000, 2000, 'A message search running longer than this is cancelled (400 QUERY_TOO_BROAD)')],
  searchPoolSize: ['SEARCH_POOL_SIZE', Int(1, 50, 3, 'Connections of each process for message search, apart from the main pool: at most this many searches run at once')],
  syncRateLimitPerMinute: ['SYNC_RATE_LIMIT_PER_MINUTE', Int(1, 100000, 120, 'Pages of GET /v1/sync one user may read per minute (429 RATE_LIMITED above)')],
  syncConcurrency: ['SYNC_CONCURRENCY', Int(1, 1000, 16, 'Pages of GET /v1/sync each process reads at once; more wait their turn in arrival order (a reconnect storm\'s catch-ups)')],
  syncQueueMax: ['SYNC_QUEUE_MAX', Int(0, 1000000, 10000, 'Pages of GET /v1/sync that may wait for their turn in each process; one more answers 503 UNAVAILABLE with Retry-After')],
  syncQueueTimeoutMs: ['SYNC_QUEUE_TIMEOUT_MS', Int(100, 600000, 30000, 'A page of GET /v1/sync that waited this long for its turn answers 503 UNAVAILABLE with Retry-After instead')],
  searchRateLimitPerMinute: ['SEARCH_RATE_LIMIT_PER_MINUTE', Int(1, 100000, 60, 'Message searches one user may make per minute (429 RATE_LIMITED above)')],
  invitationsMaxPending: ['INVITATIONS_MAX_PENDING', Int(1, 1000, 100, 'Pending invitations (GROUP_ADDS=invite) one user may have at once: inviting them past it answers 409 TOO_MANY_INVITATIONS')],
  invitationTtlDays: ['INVITATION_TTL_DAYS', Int(1, 365, 30, 'A pending invitation (GROUP_ADDS=invite) expires this many days after it was sent: no longer listed, acceptable nor holding a place in its group')],
  inviteRateLimitPerMinute: ['INVITE_RATE_LIMIT_PER_MINUTE', Int(1, 100000, 10, 'Invite codes one user may try to accept per minute (429 RATE_LIMITED above)')],
  groupAdds: ['GROUP_ADDS', Type.Union([Type.Literal('direct'), Type.Literal('invite')], { default: 'direct', description: 'Adding a user to a group (creating it with members, adding members): direct adds them at once; invite makes a pending invitation they accept or decline' })],
  shutdownTimeoutMs: ['SHUTDOWN_TIMEOUT_MS', Int(100, 300000, 10000, 'Longest wait for in-flight work on shutdown')],
  httpHeadersTimeoutMs: ['HTTP_HEADERS_TIMEOUT_MS', Int(500, 120000, 15000, 'A client must send complete request headers within this')],
  httpRequestTimeoutMs: ['HTTP_REQUEST_TIMEOUT_MS', Int(1000, 600000, 30000, 'A client must send a complete request within this')],
  httpKeepAliveTimeoutMs: ['HTTP_KEEPALIVE_TIMEOUT_MS', Int(1000, 600000, 72000, 'Idle keep-alive connections close after this')],

  wsHeartbeatMs: ['WS_HEARTBEAT_MS', Int(1000, 600000, 30000, 'Ping interval; a socket that misses a ping is cut')],
  wsMaxBacklogBytes: ['WS_MAX_BACKLOG_BYTES', Int(16384, 67108864, 1048576, 'Unsent bytes per socket before it is closed with 4008')],
  wsCloseGraceMs: ['WS_CLOSE_GRACE_MS', Int(100, 120000, 10000, 'A socket the server closes is cut if the close handshake takes longer')],
  wsMaxFrameBytes: ['WS_MAX_FRAME_BYTES', Int(1024, 1048576, 16384, 'Largest client frame; bigger ones close the socket with 1009')],
  wsFramesPerSecond: ['WS_FRAMES_PER_SECOND', Int(1, 100000, 50, 'Client frames of any type per second per socket (twice that as a burst); more get error RATE_LIMITED and count as refused frames (1008 when it goes on)')],
  wsMaxConnectionsPerUser: ['WS_MAX_CONNECTIONS_PER_USER', Int(1, 1000, 20, 'Open sockets per user: across all processes with BROKER=redis, per process otherwise (429 RATE_LIMITED above)')],
  wsSlotTtlMs: ['WS_SLOT_TTL_MS', Int(1000, 3600000, 30000, 'BROKER=redis: a socket slot of a process that died lapses after this long (live ones are renewed every third of it)')],
  presenceGraceMs: ['PRESENCE_GRACE_MS', Int(0, 600000, 5000, 'Delay before a user whose last socket closed is shown offline')],
  typingPerSecond: ['TYPING_PER_SECOND', Int(1, 100, 3, 'Typing frames per second per socket (twice that as a burst)')],
  typingRelayMs: ['TYPING_RELAY_MS', Int(0, 60000, 1000, 'Typing frames relayed per user and conversation: one per this long per process, the others dropped (0: every one)')],

  broker: ['BROKER', Type.Union([Type.Literal('memory'), Type.Literal('postgres'), Type.Literal('redis')], { default: 'memory', description: 'How pushes cross processes: memory (one process), postgres (LISTEN/NOTIFY on DATABASE_URL) or redis (REDIS_URL)' })],
  redisUrl: ['REDIS_URL', Type.Optional(Type.String({ pattern: '^rediss?://[^,\\s]+(,rediss?://[^,\\s]+)*$', description: 'Redis URL; required when BROKER=redis. With REDIS_CLUSTER=true: one or more cluster nodes, comma-separated' }))],
  redisCluster: ['REDIS_CLUSTER', Type.Boolean({ default: false, description: 'BROKER=redis on a Redis Cluster (7+): pushes travel by user shard over sharded pub/sub, so each process receives only its own users\' traffic' })],
  brokerShards: ['BROKER_SHARDS', Int(1, 16384, 1024, 'REDIS_CLUSTER=true: user shards (channels) the pushes are spread over; every process of a deployment must use the same')],
  brokerChannel: ['BROKER_CHANNEL', Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,63}$', default: 'switchboard', description: 'Broker channel; instances that share it share one live stream' })],
  brokerQueueMaxBytes: ['BROKER_QUEUE_MAX_BYTES', Int(65536, 1073741824, 16777216, 'Broker backlog per process, each way (incoming; outgoing while the broker refuses); past it the backlog is dropped and sockets replay')],
  brokerCpuMetrics: ['BROKER_CPU_METRICS', Type.Boolean({ default: false, description: 'Measure the CPU the broker costs this process, each way (metric broker_cpu_seconds_total); each measured span costs about a microsecond more' })],
  brokerPublishRetryMs: ['BROKER_PUBLISH_RETRY_MS', Int(100, 600000, 5000, 'A publication the broker refuses is retried this long; then every process closes its sockets (4008) so that clients replay')],
  presenceTtlMs: ['PRESENCE_TTL_MS', Int(1000, 3600000, 30000, 'A process that stops (kill -9) has its users shown offline within this long')],
  clusterWorkers: ['CLUSTER_WORKERS', Int(0, 256, 0, 'Worker processes of `npm run start:cluster` (0: one per core)')],

  webEnabled: ['WEB_ENABLED', Type.Boolean({ default: true, description: 'Serve the web chat page at /' })],
  metricsEnabled: ['METRICS_ENABLED', Type.Boolean({ default: true, description: 'Serve Prometheus metrics at /metrics' })],
  metricsToken: ['METRICS_TOKEN', Type.Optional(Type.String({ minLength: 16, description: 'When set, /metrics requires Authorization: Bearer <token>' }))],

  smtpUrl: ['SMTP_URL', Type.Optional(Type.String({ pattern: '^smtps?://', description: 'SMTP server for account mail (email codes, password reset), e.g. smtps://user:pass@mail.example.com; unset: those routes answer 503 MAIL_NOT_CONFIGURED' }))],
  mailFrom: ['MAIL_FROM', Type.Optional(Type.String({ minLength: 3, description: 'Sender of account mail, e.g. "Switchboard <no-reply@example.com>"; mail is sent only when both SMTP_URL and MAIL_FROM are set' }))],
  passwordResetTtlMinutes: ['PASSWORD_RESET_TTL_MINUTES', Int(1, 1440, 30, 'A mailed password-reset token works once, within this long')],
  emailCodeTtlMinutes: ['EMAIL_CODE_TTL_MINUTES', Int(1, 1440, 15, 'A mailed email-verification code works within this long (5 wrong tries void it)')],
  accountMailRateLimitMax: ['ACCOUNT_MAIL_RATE_LIMIT_MAX', Int(1, 100000, 5, 'Password-reset requests and confirmations, and email-code requests, per client address per window')],
  accountMailRateLimitWindowMs: ['ACCOUNT_MAIL_RATE_LIMIT_WINDOW_MS', Int(1000, 86400000, 900000, 'Window of ACCOUNT_MAIL_RATE_LIMIT_MAX')],
  deletedAccountMessages: ['DELETED_ACCOUNT_MESSAGES', Type.Union([Type.Literal('erase'), Type.Literal('keep')], { default: 'erase', description: 'Messages and reactions of a deleted account: erase (bodies cleared as deletes are, redacted in the event log; reactions taken back) or keep (bodies and reactions stay, the sender is shown as a deleted user)' })],
  reactionsCustom: ['REACTIONS_CUSTOM', Type.String({ default: '', pattern: '^([a-z0-9_+-]{1,32}(,[a-z0-9_+-]{1,32})*)?$', description: 'Comma-separated names of custom reactions, used as :name: (e.g. party,shipit); empty: Unicode emoji only' })],
  reactionsPerUserPerMessage: ['REACTIONS_PER_USER_PER_MESSAGE', Int(1, 1000, 20, 'Distinct reactions one user may put on one message (409 TOO_MANY_REACTIONS above)')],
  reactionsDistinctPerMessage: ['REACTIONS_DISTINCT_PER_MESSAGE', Int(1, 1000, 20, 'Distinct reactions (emoji) one message may carry from all its reactors together; adding one already there is always allowed (409 TOO_MANY_REACTIONS above)')],
  pinsPerConversation: ['PINS_PER_CONVERSATION', Int(1, 1000, 50, 'Pinned messages per conversation (409 TOO_MANY_PINS above)')],
  deliveryCoalesceMs: ['DELIVERY_COALESCE_MS', Int(0, 60000, 500, 'Delivery acknowledgements of one member in one conversation within this window are stored and announced once, with the highest seq')],

  storageDriver: ['STORAGE_DRIVER', Type.Union([Type.Literal('local'), Type.Literal('s3')], { default: 'local', description: 'Where uploaded files live: local (under DATA_DIR/uploads, served by the app) or s3 (any S3-compatible store, S3_*)' })],
  storageLocalDir: ['STORAGE_LOCAL_DIR', Type.Optional(Type.String({ minLength: 1, description: 'Folder of STORAGE_DRIVER=local\'s files; unset: DATA_DIR/uploads. On another disk than PostgreSQL\'s, the uploads\' bytes do not delay its commits' }))],
  s3Bucket: ['S3_BUCKET', Type.Optional(Type.String({ minLength: 3, maxLength: 63, description: 'Bucket of STORAGE_DRIVER=s3 (required then)' }))],
  s3Region: ['S3_REGION', Type.String({ minLength: 1, default: 'us-east-1', description: 'Region of the bucket' })],
  s3Endpoint: ['S3_ENDPOINT', Type.Optional(Type.String({ pattern: '^https?://', description: 'Endpoint of an S3-compatible store (MinIO, R2, ...); unset: AWS' }))],
  s3ForcePathStyle: ['S3_FORCE_PATH_STYLE', Type.Boolean({ default: false, description: 'Address the bucket in the path (most S3-compatible stores) instead of the host name' })],
  s3AccessKeyId: ['S3_ACCESS_KEY_ID', Type.Optional(Type.String({ minLength: 1, description: 'Access key; unset: the AWS SDK default chain (environment, instance role)' }))],
  s3SecretAccessKey: ['S3_SECRET_ACCESS_KEY', Type.Optional(Type.String({ minLength: 1, description: 'Secret of S3_ACCESS_KEY_ID' }))],
  uploadMaxImageBytes: ['UPLOAD_MAX_IMAGE_BYTES', Int(1, 2147483647, 20971520, 'Largest image upload (413 FILE_TOO_LARGE above)')],
  uploadMaxVideoBytes: ['UPLOAD_MAX_VIDEO_BYTES', Int(1, 2147483647, 209715200, 'Largest video upload')],
  uploadMaxAudioBytes: ['UPLOAD_MAX_AUDIO_BYTES', Int(1, 2147483647, 52428800, 'Largest audio upload')],
  uploadMaxFileBytes: ['UPLOAD_MAX_FILE_BYTES', Int(1, 2147483647, 104857600, 'Largest upload of any other type')],
  uploadAllowedTypes: ['UPLOAD_ALLOWED_TYPES', Type.String({
    default: 'image/jpeg,image/png,image/gif,image/webp,image/avif,video/mp4,video/webm,video/quicktime,audio/mpeg,audio/ogg,audio/mp4,audio/wav,audio/webm,application/pdf,application/zip,text/plain',
    description: 'Comma-separated media types accepted (type/* allows a whole type); others answer 415 UNSUPPORTED_MEDIA_TYPE'
  }), INPUT],
  uploadBytesPerSecond: ['UPLOAD_BYTES_PER_SECOND', Int(0, 2147483647, 16777216, 'Local driver: upload bytes one process takes per second, all uploads together (0: no bound); a sender past it is slowed down by TCP, so uploads do not take the cores from posts and pushes')],
  uploadConcurrency: ['UPLOAD_CONCURRENCY', Int(1, 1000, 4, 'Upload requests (create, complete, the start of a local PUT) one process works on at once; the others wait their turn, so a burst of uploads does not queue ahead of posts and pushes')],
  uploadRateLimitPerMinute: ['UPLOAD_RATE_LIMIT_PER_MINUTE', Int(1, 100000, 30, 'Uploads one user may start per minute (429 RATE_LIMITED above)')],
  uploadQuotaBytes: ['UPLOAD_QUOTA_BYTES', Int(1, Number.MAX_SAFE_INTEGER, 1073741824, 'Bytes one user may store (uploads not deleted, with their thumbnails; pending ones by their declared size); 413 QUOTA_EXCEEDED above')],
  uploadUrlTtlSeconds: ['UPLOAD_URL_TTL_SECONDS', Int(10, 86400, 900, 'An upload URL works this long')],
  downloadUrlTtlSeconds: ['DOWNLOAD_URL_TTL_SECONDS', Int(1, 86400, 300, 'A signed download URL works this long (a removed member keeps access at most this long)')],
  uploadUnattachedTtlSeconds: ['UPLOAD_UNATTACHED_TTL_SECONDS', Int(1, 2592000, 86400, 'Uploads never attached to a message (nor made an avatar or picture) are deleted after this long')],
  uploadSweepIntervalMs: ['UPLOAD_SWEEP_INTERVAL_MS', Int(100, 86400000, 600000, 'How often unattached uploads and interrupted deletions are swept')],
  thumbnailSize: ['THUMBNAIL_SIZE', Int(32, 2048, 320, 'Thumbnails fit in a square of this many pixels')],
  imageMaxFrames: ['IMAGE_MAX_FRAMES', Int(1, 100000, 300, 'Frames an animated image (GIF, WebP) may have: a chat\'s GIFs and stickers have tens to a few hundred (300 is 10 s at 30 fps); more: completing answers 400 IMAGE_TOO_COMPLEX')],
  imageTimeoutSeconds: ['IMAGE_TIMEOUT_SECONDS', Int(1, 3600, 10, 'Longest the work on one image upload (metadata stripped, thumbnail) may take; past it completing answers 400 IMAGE_TOO_COMPLEX. Images are processed one at a time per process: this bounds how long one holds the others')],

  pushWebhookUrl: ['PUSH_WEBHOOK_URL', Type.Optional(Type.String({ pattern: '^https?://', description: 'POST offline-message notifications here; unset: off' })), INPUT],
  pushWebhookSecret: ['PUSH_WEBHOOK_SECRET', Type.Optional(Type.String({ minLength: 16, description: 'HMAC-SHA256 key signing each webhook request' })), INPUT],
  pushWebhookTimeoutMs: ['PUSH_WEBHOOK_TIMEOUT_MS', Int(100, 60000, 5000, 'A webhook request not answered within this counts as failed'), INPUT],
  pushWebhookRetryLimit: ['PUSH_WEBHOOK_RETRY_LIMIT', Int(0, 100, 10, 'Retries of a failed webhook delivery'), INPUT],
  pushWebhookRetryDelaySeconds: ['PUSH_WEBHOOK_RETRY_DELAY_SECONDS', Int(1, 3600, 5, 'First retry delay; it doubles (with jitter) on each retry'), INPUT],
  pushWebhookPreviewChars: ['PUSH_WEBHOOK_PREVIEW_CHARS', Int(0, 1000, 100, 'Characters of the message body sent as preview (0: none)'), INPUT],

  fcmServiceAccountFile: ['FCM_SERVICE_ACCOUNT_FILE', Type.Optional(Type.String({ minLength: 1, description: 'Firebase service-account JSON key file; set: FCM push is on' })), INPUT],
  fcmTokenUri: ['FCM_TOKEN_URI', Type.Optional(Type.String({ pattern: '^https?://', description: 'OAuth token endpoint; default: the token_uri of the service-account file' })), INPUT],
  fcmBaseUrl: ['FCM_BASE_URL', Type.String({ pattern: '^https?://', default: 'https://fcm.googleapis.com', description: 'FCM HTTP v1 API base URL' }), INPUT],
  apnsKeyFile: ['APNS_KEY_FILE', Type.Optional(Type.String({ minLength: 1, description: 'APNs token-auth key (.p8 file); set with APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC: APNs push is on' })), INPUT],
  apnsKeyId: ['APNS_KEY_ID', Type.Optional(Type.String({ pattern: '^[A-Z0-9]{10}$', description: 'Key ID of the .p8 key (10 characters)' })), INPUT],
  apnsTeamId: ['APNS_TEAM_ID', Type.Optional(Type.String({ pattern: '^[A-Z0-9]{10}$', description: 'Apple developer Team ID (10 characters)' })), INPUT],
  apnsTopic: ['APNS_TOPIC', Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'App bundle id (apns-topic) of devices registered without appId' })), INPUT],
  apnsUrl: ['APNS_URL', Type.String({ pattern: '^https://', default: 'https://api.push.apple.com', description: 'APNs server (development: https://api.sandbox.push.apple.com)' }), INPUT],
  vapidPublicKey: ['VAPID_PUBLIC_KEY', Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{80,100}$', description: 'VAPID public key (URL-safe base64, `npx web-push generate-vapid-keys`); set with VAPID_PRIVATE_KEY and VAPID_SUBJECT: Web Push is on' })), INPUT],
  vapidPrivateKey: ['VAPID_PRIVATE_KEY', Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{40,50}$', description: 'VAPID private key (URL-safe base64)' })), INPUT],
  vapidSubject: ['VAPID_SUBJECT', Type.Optional(Type.String({ pattern: '^(mailto:|https://)', description: 'Contact of the sender for push services: mailto: or https: URL' })), INPUT],
  pushCaFile: ['PUSH_CA_FILE', Type.Optional(Type.String({ minLength: 1, description: 'Extra CA certificates (PEM) trusted for APNs and Web Push connections (tests, TLS-inspecting proxies)' })), INPUT],
  pushPreviewChars: ['PUSH_PREVIEW_CHARS', Int(0, 1000, 100, 'Characters of the message body shown in device pushes (0: off, the push says only "New message")'), INPUT],
  pushWhenOnline: ['PUSH_WHEN_ONLINE', Type.Boolean({ default: false, description: 'Push message notifications to every device, also of users with a live socket (default: only users with none)' }), INPUT],
  pushTtlSeconds: ['PUSH_TTL_SECONDS', Int(0, 2419200, 86400, 'Push services keep an undelivered push this long (apns-expiration, FCM ttl, Web Push TTL)'), INPUT],
  pushRetryLimit: ['PUSH_RETRY_LIMIT', Int(0, 50, 8, 'Retries of a push the provider refused for a passing reason (429, 5xx, timeout)'), INPUT],
  pushRetryDelayMs: ['PUSH_RETRY_DELAY_MS', Int(100, 3600000, 2000, 'First retry delay; it doubles on each retry, with jitter; a Retry-After of the provider wins'), INPUT],
  pushPollIntervalMs: ['PUSH_POLL_INTERVAL_MS', Int(500, 60000, 2000, 'How often push workers look for due retries (new pushes wake them at once)'), INPUT],
  pushConcurrency: ['PUSH_CONCURRENCY', Int(1, 1000, 100, 'Pushes in flight per provider per process'), INPUT],
  pushTimeoutMs: ['PUSH_TIMEOUT_MS', Int(100, 120000, 10000, 'A provider request not answered within this is retried'), INPUT],
  pushDeliveryRetentionHours: ['PUSH_DELIVERY_RETENTION_HOURS', Int(1, 8760, 168, 'Delivery records (GET /v1/me/devices/:id/deliveries) are kept this long'), INPUT],
  pushTestRateLimitPerMinute: ['PUSH_TEST_RATE_LIMIT_PER_MINUTE', Int(1, 10000, 5, 'Test pushes (POST /v1/me/devices/:id/test) per user per minute'), INPUT],
  pushDevicesPerUser: ['PUSH_DEVICES_PER_USER', Int(1, 1000, 20, 'Push devices one user keeps; registering one more drops the one updated longest ago'), INPUT],
  webpushEndpointHosts: ['WEBPUSH_ENDPOINT_HOSTS', Type.String({
    default: 'fcm.googleapis.com,updates.push.services.mozilla.com,push.apple.com,notify.windows.com',
    description: 'Comma-separated hosts a Web Push subscription endpoint may be on (a host or any subdomain of it; * allows any): the endpoint is a URL a user gives, which the server then POSTs to'
  }), INPUT],
  pushReadCoalesceSeconds: ['PUSH_READ_COALESCE_SECONDS', Int(1, 3600, 10, 'Badge updates after reads: at most one per user and conversation per this many seconds (the first at once, the rest at the end of the slot)'), INPUT]
} as const satisfies Record<string, Setting>

type Settings = typeof SETTINGS
type EnvProperties = { [K in keyof Settings as Settings[K][0]]: Settings[K][1] }

export const EnvSchema = Type.Object(
  Object.fromEntries(Object.values(SETTINGS).map(([name, schema]) => [name, schema])) as EnvProperties
)

export type Env = Static<typeof EnvSchema>

/** Keys of the settings copied unchanged from their variable into AppConfig. */
type CopiedKey = { [K in keyof Settings]: Settings[K] extends readonly [string, TSchema, typeof INPUT] ? never : K }[keyof Settings]
type CopiedFields = { [K in CopiedKey]: Env[Settings[K][0]] }

const COPIED = Object.entries(SETTINGS).filter(([, setting]) => (setting as Setting)[2] !== INPUT)

export interface AppConfig extends CopiedFields {
  /** false, the number of proxies in front, or their addresses/CIDRs (Fastify's trustProxy). */
  trustProxy: false | number | string[]
  corsOrigins: string[]
  /** UPLOAD_ALLOWED_TYPES as a list: exact types, or `type/*`. */
  uploadAllowedTypes: string[]
  pushWebhook: PushWebhookConfig | undefined
  push: PushConfig
}

/** A Google service account, as in its JSON key file. */
export interface FcmServiceAccount { projectId: string, clientEmail: string, privateKey: string, tokenUri: string }

export interface PushConfig {
  fcm: { serviceAccount: FcmServiceAccount, baseUrl: string } | undefined
  apns: { key: string, keyId: string, teamId: string, topic: string, url: string } | undefined
  webpush: { publicKey: string, privateKey: string, subject: string } | undefined
  /** Extra trusted CA certificates (PEM) for APNs and Web Push. */
  ca: string | undefined
  previewChars: number
  whenOnline: boolean
  ttlSeconds: number
  retryLimit: number
  retryDelayMs: number
  pollIntervalMs: number
  concurrency: number
  timeoutMs: number
  retentionHours: number
  testPerMinute: number
  /** Badge updates after reads: one per user and conversation per slot of this many seconds. */
  readCoalesceSeconds: number
  /** Push devices one user keeps (the one updated longest ago goes first). */
  devicesPerUser: number
  /** WEBPUSH_ENDPOINT_HOSTS, lower case: hosts (and their subdomains) a subscription endpoint may be on; `*` any. */
  webpushEndpointHosts: string[]
}

export interface PushWebhookConfig {
  url: string
  secret: string
  timeoutMs: number
  retryLimit: number
  retryDelaySeconds: number
  previewChars: number
}

export class ConfigError extends Error {}

// Values that appear in docs and examples; a production secret must not be one.
const PLACEHOLDER_SECRETS = /change[-_ ]?me|secret|example|placeholder|^(.)\1+$/i

function isLoopback (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.')) || h.startsWith('::ffff:127.')
}

// proxy-addr's names for address ranges, accepted by Fastify's trustProxy.
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isProxyAddress (entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true
  const [address, prefix, ...rest] = entry.split('/')
  const version = isIP(address ?? '')
  if (version === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128)
}

/**
 * `true` is refused rather than guessed at: trusting every hop lets any
 * client write its own address (the first hops are whatever it sent), and
 * reading it as "one proxy" would be wrong, silently, behind two.
 */
function parseTrustProxy (value: string): AppConfig['trustProxy'] {
  const v = value.trim().toLowerCase()
  if (v === '' || v === 'false' || v === '0') return false
  if (v === 'true') {
    throw new ConfigError('Invalid configuration: TRUST_PROXY=true would trust every X-Forwarded-For hop, and clients can forge those ' +
      '(escaping rate limits); set the number of proxies in front (TRUST_PROXY=1 behind one load balancer) or their addresses (e.g. TRUST_PROXY=10.0.0.0/8)')
  }
  if (/^\d+$/.test(v)) {
    const hops = Number(v)
    if (hops > 16) throw new ConfigError('Invalid configuration: TRUST_PROXY must be false, a number of proxies from 1 to 16, or proxy addresses')
    return hops
  }
  const entries = v.split(',').map((e) => e.trim()).filter(Boolean)
  const bad = entries.find((e) => !isProxyAddress(e))
  if (bad !== undefined || entries.length === 0) {
    throw new ConfigError(`Invalid configuration: TRUST_PROXY must be false, a number of proxies, or comma-separated proxy addresses or CIDR ranges; "${bad ?? value}" is none of these`)
  }
  return entries
}

function readSetting (name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${name}=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

function fcmServiceAccount (e: Env): FcmServiceAccount | undefined {
  if (e.FCM_SERVICE_ACCOUNT_FILE === undefined) return undefined
  let json: Record<string, unknown>
  try {
    json = JSON.parse(readSetting('FCM_SERVICE_ACCOUNT_FILE', e.FCM_SERVICE_ACCOUNT_FILE)) as Record<string, unknown>
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError('Invalid configuration: FCM_SERVICE_ACCOUNT_FILE is not JSON (download it in the Firebase console: Project settings, Service accounts)')
  }
  const { project_id: projectId, client_email: clientEmail, private_key: privateKey, token_uri: tokenUri } = json
  if (typeof projectId !== 'string' || typeof clientEmail !== 'string' || typeof privateKey !== 'string') {
    throw new ConfigError('Invalid configuration: FCM_SERVICE_ACCOUNT_FILE needs project_id, client_email and private_key (a service-account key file)')
  }
  return { projectId, clientEmail, privateKey, tokenUri: e.FCM_TOKEN_URI ?? (typeof tokenUri === 'string' ? tokenUri : 'https://oauth2.googleapis.com/token') }
}

function pushConfig (e: Env): PushConfig {
  const apnsSet = [e.APNS_KEY_FILE, e.APNS_KEY_ID, e.APNS_TEAM_ID, e.APNS_TOPIC].filter((v) => v !== undefined).length
  if (apnsSet > 0 && apnsSet < 4) throw new ConfigError('Invalid configuration: APNs needs all of APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC')
  const vapidSet = [e.VAPID_PUBLIC_KEY, e.VAPID_PRIVATE_KEY, e.VAPID_SUBJECT].filter((v) => v !== undefined).length
  if (vapidSet > 0 && vapidSet < 3) throw new ConfigError('Invalid configuration: Web Push needs all of VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT')
  const serviceAccount = fcmServiceAccount(e)
  return {
    fcm: serviceAccount === undefined ? undefined : { serviceAccount, baseUrl: e.FCM_BASE_URL },
    apns: apnsSet === 0
      ? undefined
      : { key: readSetting('APNS_KEY_FILE', e.APNS_KEY_FILE!), keyId: e.APNS_KEY_ID!, teamId: e.APNS_TEAM_ID!, topic: e.APNS_TOPIC!, url: e.APNS_URL },
    webpush: vapidSet === 0 ? undefined : { publicKey: e.VAPID_PUBLIC_KEY!, privateKey: e.VAPID_PRIVATE_KEY!, subject: e.VAPID_SUBJECT! },
    ca: e.PUSH_CA_FILE === undefined ? undefined : readSetting('PUSH_CA_FILE', e.PUSH_CA_FILE),
    previewChars: e.PUSH_PREVIEW_CHARS,
    whenOnline: e.PUSH_WHEN_ONLINE,
    ttlSeconds: e.PUSH_TTL_SECONDS,
    retryLimit: e.PUSH_RETRY_LIMIT,
    retryDelayMs: e.PUSH_RETRY_DELAY_MS,
    pollIntervalMs: e.PUSH_POLL_INTERVAL_MS,
    concurrency: e.PUSH_CONCURRENCY,
    timeoutMs: e.PUSH_TIMEOUT_MS,
    retentionHours: e.PUSH_DELIVERY_RETENTION_HOURS,
    testPerMinute: e.PUSH_TEST_RATE_LIMIT_PER_MINUTE,
    readCoalesceSeconds: e.PUSH_READ_COALESCE_SECONDS,
    devicesPerUser: e.PUSH_DEVICES_PER_USER,
    webpushEndpointHosts: e.WEBPUSH_ENDPOINT_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)
  }
}

/**
 * Reads settings from `env` (process.env and `.env` by default). Throws a
 * ConfigError whose message names the offending setting.
 */
export function loadConfig (env: Record<string, string | undefined> = process.env, { dotenv = true } = {}): AppConfig {
  let e: Env
  try {
    e = envSchema<Env>({ schema: EnvSchema, data: env, env: false, dotenv: dotenv && env === process.env })
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${(err as Error).message}`)
  }
  if (e.NODE_ENV === 'production') {
    if (e.JWT_SECRET === undefined) {
      throw new ConfigError('Invalid configuration: JWT_SECRET is required when NODE_ENV=production (32+ random characters, e.g. `openssl rand -base64 48`)')
    }
    if (PLACEHOLDER_SECRETS.test(e.JWT_SECRET)) {
      throw new ConfigError('Invalid configuration: JWT_SECRET looks like a placeholder; use 32+ random characters in production')
    }
  }
  if (e.PASSWORD_HASH_COST === 'test' && e.NODE_ENV !== 'test') {
    throw new ConfigError('Invalid configuration: PASSWORD_HASH_COST=test is for test suites only (it needs NODE_ENV=test)')
  }
  if (e.BROKER === 'redis' && e.REDIS_URL === undefined) {
    throw new ConfigError('Invalid configuration: REDIS_URL is required when BROKER=redis (e.g. redis://127.0.0.1:6379)')
  }
  if (e.REDIS_URL?.includes(',') === true && !e.REDIS_CLUSTER) {
    throw new ConfigError('Invalid configuration: REDIS_URL lists several nodes, which needs REDIS_CLUSTER=true (a Redis Cluster)')
  }
  // /metrics shares the API port: beyond loopback it would show anyone the
  // process and pool figures. Refused rather than quietly switched off, so
  // a scraper is never left failing without a word.
  if (e.METRICS_ENABLED && e.METRICS_TOKEN === undefined && !isLoopback(e.HOST)) {
    throw new ConfigError(`Invalid configuration: METRICS_TOKEN is required when HOST=${e.HOST} listens beyond loopback and METRICS_ENABLED=true ` +
      '(16+ random characters; scrapers send Authorization: Bearer <token>), or set METRICS_ENABLED=false')
  }
  const uploadAllowedTypes = e.UPLOAD_ALLOWED_TYPES.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean)
  const badType = uploadAllowedTypes.find((t) => !/^[a-z0-9][a-z0-9!#$&^_.+-]*\/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)$/.test(t))
  if (badType !== undefined) throw new ConfigError(`Invalid configuration: UPLOAD_ALLOWED_TYPES holds "${badType}", which is not a media type (type/subtype or type/*)`)
  if (e.PUSH_WEBHOOK_URL !== undefined && e.PUSH_WEBHOOK_SECRET === undefined) {
    throw new ConfigError('Invalid configuration: PUSH_WEBHOOK_SECRET is required when PUSH_WEBHOOK_URL is set (16+ random characters)')
  }
  return {
    push: pushConfig(e),
    ...Object.fromEntries(COPIED.map(([key, [name]]) => [key, e[name as keyof Env]])) as CopiedFields,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    corsOrigins: e.CORS_ORIGINS.split(',').map((s) => s.trim()).filter(Boolean),
    uploadAllowedTypes,
    pushWebhook: e.PUSH_WEBHOOK_URL === undefined
      ? undefined
      : {
          url: e.PUSH_WEBHOOK_URL,
          secret: e.PUSH_WEBHOOK_SECRET!,
          timeoutMs: e.PUSH_WEBHOOK_TIMEOUT_MS,
          retryLimit: e.PUSH_WEBHOOK_RETRY_LIMIT,
          retryDelaySeconds: e.PUSH_WEBHOOK_RETRY_DELAY_SECONDS,
          previewChars: e.PUSH_WEBHOOK_PREVIEW_CHARS
        }
  }
}
