// Access tokens: HS256 JWTs, short-lived. Only HS256 is accepted on verify, so
// `alg: none` and algorithm-confusion tokens are refused.
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'

export default fp<{ secret: string }>(async (app, opts) => {
  await app.register(jwt, {
    secret: opts.secret,
    sign: { algorithm: 'HS256', expiresIn: app.config.accessTokenTtlSeconds },
    verify: { algorithms: ['HS256'] }
  })
}, { name: 'jwt', dependencies: ['config'] })
