// Schemas of device push (routes/devices.ts): the registry, delivery records
// and the public push configuration.
import { Type, type Static } from 'typebox'
import { Timestamp, Uuid } from './common.js'

export const Platform = Type.Union([Type.Literal('fcm'), Type.Literal('apns'), Type.Literal('webpush')], { description: 'Push service of the device' })

export const DeviceParams = Type.Object({
  deviceId: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', description: 'Chosen by the app, stable per install (1-64 of A-Z a-z 0-9 . _ : -)' })
})
export type DeviceParams = Static<typeof DeviceParams>

const Base64Url = (min: number, max: number) => Type.String({ pattern: `^[A-Za-z0-9_-]{${min},${max}}={0,2}$` })

export const WebPushSubscription = Type.Object({
  endpoint: Type.String({ pattern: '^https://', maxLength: 2048, description: 'PushSubscription.endpoint' }),
  keys: Type.Object({
    p256dh: Base64Url(86, 88),
    auth: Base64Url(22, 24)
  })
}, { description: 'PushSubscription.toJSON() (expirationTime and other fields are ignored)' })

export const PutDeviceBody = Type.Object({
  platform: Platform,
  token: Type.Optional(Type.String({ minLength: 8, maxLength: 2048, pattern: '^[A-Za-z0-9:_.\\-]+$', description: 'fcm: the registration token; apns: the device token in hex' })),
  subscription: Type.Optional(WebPushSubscription),
  appId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$', description: 'apns: the bundle id (apns-topic) when not APNS_TOPIC' })),
  locale: Type.Optional(Type.String({ minLength: 2, maxLength: 35, pattern: '^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$', description: 'BCP 47 language tag' }))
}, { additionalProperties: false })
export type PutDeviceBody = Static<typeof PutDeviceBody>

export const Device = Type.Object({
  deviceId: Type.String(),
  platform: Platform,
  appId: Type.Union([Type.String(), Type.Null()]),
  locale: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp
}, { $id: 'Device', description: 'A push target, owned by the session that registered it (ending the session removes it)' })
export type Device = Static<typeof Device>

export const DeviceList = Type.Object({ devices: Type.Array(Type.Ref('Device')) })

export const DeliveryStatus = Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('accepted'), Type.Literal('failed')], {
  description: 'queued (waiting, or waiting for a retry: reason says why), sent (handed to the provider), accepted by the provider, or failed (reason)'
})

export const Delivery = Type.Object({
  id: Uuid,
  provider: Platform,
  kind: Type.Union([Type.Literal('message'), Type.Literal('read'), Type.Literal('test')], { description: 'message, read (silent badge update) or test' }),
  conversationId: Type.Union([Uuid, Type.Null()]),
  seq: Type.Union([Type.Integer(), Type.Null()]),
  status: DeliveryStatus,
  reason: Type.Union([Type.String(), Type.Null()], { description: "The provider's reason of a failure or retry (e.g. Unregistered, UNREGISTERED, HTTP 410)" }),
  attempts: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp
}, { $id: 'Delivery' })
export type Delivery = Static<typeof Delivery>

export const DeliveryList = Type.Object({ deliveries: Type.Array(Type.Ref('Delivery')) })
export const DeliveryQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Newest first, 1-100' }) })

export const TestPushResult = Type.Object({ deliveryId: Uuid })

export const PushConfigInfo = Type.Object({
  platforms: Type.Array(Platform, { description: 'The push services this server sends to' }),
  vapidPublicKey: Type.Union([Type.String(), Type.Null()], { description: 'applicationServerKey for PushManager.subscribe (null: Web Push is off)' })
})
export type PushConfigInfo = Static<typeof PushConfigInfo>
