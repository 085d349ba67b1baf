// Device push: the caller's devices (each owned by the session that
// registered it), their delivery records, a test push, and the public push
// configuration a web page needs to subscribe.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AppError, badRequest, notFound, unauthorized } from '../domain/errors.js'
import { webPushEndpointAllowed } from '../notifications/push/endpoint-hosts.js'
import type { DeviceRecord } from '../repositories/devices.js'
import { errorResponses } from '../schemas/common.js'
import { DeliveryList, DeliveryQuery, DeviceList, DeviceParams, PushConfigInfo, PutDeviceBody, TestPushResult, type Device } from '../schemas/devices.js'
import { writeBudget } from './budgets.js'

const toDevice = (d: DeviceRecord): Device => ({
  deviceId: d.deviceId, platform: d.platform, appId: d.appId, locale: d.locale, createdAt: d.createdAt.toISOString(), updatedAt: d.updatedAt.toISOString()
})

const notConfigured = (platform: string) => new AppError(503, 'PUSH_NOT_CONFIGURED', `This server does not send ${platform} pushes (its credentials are not configured)`)

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { push, config } = app
  const security = [{ bearer: [] }]
  const tags = ['push']
  const deviceRef = { $ref: 'Device' } as unknown as typeof Device

  app.get('/push/config', {
    // Without a token: limited per client address as login is.
    config: { rateLimit: { max: config.authRateLimitMax, timeWindow: config.authRateLimitWindowMs } },
    schema: {
      security: [], tags, operationId: 'getPushConfig',
      summary: 'The push services this server sends to, and the VAPID public key for Web Push subscriptions',
      description: 'No token needed; rate-limited per client address (AUTH_RATE_LIMIT_MAX per AUTH_RATE_LIMIT_WINDOW_MS).',
      response: { 200: PushConfigInfo, ...errorResponses(429) }
    }
  }, async () => ({ platforms: push.platforms, vapidPublicKey: push.vapidPublicKey }))

  app.get('/me/devices', {
    onRequest: app.authenticate,
    schema: { security, tags, operationId: 'listDevices', summary: "The account's push devices, oldest first", response: { 200: DeviceList, ...errorResponses(401) } }
  }, async (request) => ({ devices: (await push.devices.list(request.auth.userId)).map(toDevice) }))

  app.put('/me/devices/:deviceId', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'putDevice',
      summary: 'Register or update a push device of this session',
      description: 'fcm and apns take `token`, webpush takes `subscription` (PushSubscription.toJSON()). The device belongs to the session of the ' +
        'access token: logout, ending the session, a password change that ends other sessions, suspension or deletion of the account remove it. ' +
        'A push token registered before by another device or account moves here. A user keeps at most PUSH_DEVICES_PER_USER devices: one more ' +
        'drops the one updated longest ago. 503 PUSH_NOT_CONFIGURED when the server has no credentials for the platform.',
      params: DeviceParams,
      body: PutDeviceBody,
      response: { 200: deviceRef, ...errorResponses(400, 401, 429, 503) }
    }
  }, async (request) => {
    const { platform, token, subscription, appId, locale } = request.body
    if (platform === 'webpush') {
      if (subscription === undefined || token !== undefined) throw badRequest('A webpush device takes `subscription` (and no `token`)')
      if (!webPushEndpointAllowed(subscription.endpoint, config.push.webpushEndpointHosts)) {
        throw badRequest('The subscription endpoint is not on a push service this server sends to (WEBPUSH_ENDPOINT_HOSTS)')
      }
    } else if (token === undefined || subscription !== undefined) {
      throw badRequest(`A ${platform} device takes \`token\` (and no \`subscription\`)`)
    }
    if (platform === 'apns' && !/^[0-9a-fA-F]{64,200}$/.test(token!)) throw badRequest('An APNs device token is 64 or more hexadecimal characters')
    if (!push.platforms.includes(platform)) throw notConfigured(platform)
    const device = await push.devices.upsert({
      userId: request.auth.userId,
      deviceId: request.params.deviceId,
      sessionId: request.auth.sessionId,
      platform,
      token: platform === 'webpush' ? subscription!.endpoint : token!,
      keys: platform === 'webpush' ? { p256dh: subscription!.keys.p256dh, auth: subscription!.keys.auth } : null,
      appId: appId ?? null,
      locale: locale ?? null
    }, config.push.devicesPerUser)
    if (device === null) throw unauthorized('The session of this access token has ended')
    return toDevice(device)
  })

  app.delete('/me/devices/:deviceId', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security, tags, operationId: 'deleteDevice', summary: 'Remove a push device and its delivery records',
      params: DeviceParams, response: { 204: Type.Null(), ...errorResponses(401, 404, 429) }
    }
  }, async (request, reply) => {
    if (!await push.devices.remove(request.auth.userId, request.params.deviceId)) throw notFound('Device')
    return reply.code(204).send(null)
  })

  app.get('/me/devices/:deviceId/deliveries', {
    onRequest: app.authenticate,
    schema: {
      security, tags, operationId: 'listDeliveries',
      summary: 'The latest pushes to a device, newest first: queued, sent (handed to the provider), accepted or failed with the provider\'s reason',
      description: `Kept for PUSH_DELIVERY_RETENTION_HOURS (${config.push.retentionHours} h here). Records stay when the provider refused the token and the device was removed, so re-registering the device shows why.`,
      params: DeviceParams, querystring: DeliveryQuery, response: { 200: DeliveryList, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => {
    const { userId } = request.auth
    const rows = await push.devices.deliveries(userId, request.params.deviceId, request.query.limit)
    if (rows.length === 0 && await push.devices.find(userId, request.params.deviceId) === null) throw notFound('Device')
    return {
      deliveries: rows.map((r) => ({
        id: r.id, provider: r.provider, kind: r.kind, conversationId: r.conversationId, seq: r.seq, status: r.status, reason: r.reason,
        attempts: r.attempts, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString()
      }))
    }
  })

  app.post('/me/devices/:deviceId/test', {
    onRequest: app.authenticate,
    config: { rateLimit: { max: config.push.testPerMinute, timeWindow: 60_000, hook: 'preHandler', keyGenerator: (request) => `push-test:${request.auth.userId}` } },
    schema: {
      security, tags, operationId: 'testDevice',
      summary: 'Send a test push to a device; follow it in its deliveries',
      description: 'Rate-limited per user (PUSH_TEST_RATE_LIMIT_PER_MINUTE).',
      params: DeviceParams, response: { 202: TestPushResult, ...errorResponses(401, 404, 429, 503) }
    }
  }, async (request, reply) => {
    const device = await push.devices.find(request.auth.userId, request.params.deviceId)
    if (device === null) throw notFound('Device')
    if (push.service === undefined || !push.platforms.includes(device.platform)) throw notConfigured(device.platform)
    const result = await push.service.sendTest(request.auth.userId, request.params.deviceId)
    if (result === null) throw notFound('Device')
    return reply.code(202).send(result)
  })
}

export default routes
