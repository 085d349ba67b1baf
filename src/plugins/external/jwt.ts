// Access tokens: HS256 JWTs, short-lived. Only HS256 is accepted on verify, so
// `alg: none` and algorithm-confusion tokens are refused.
//
// Verified tokens are cached (fast-jwt's verifier cache): a client sends the
// same token with every request until it refreshes, and the HMAC, the base64
// and JSON decoding of it were about 5 % of the server's CPU in the fan-out
// profile (`npm run bench -- --scenarios fanout --cpu-prof`). An entry never
// outlives the token's `exp`, and the key is the whole token (not a hash of
// it, which would cost a SHA-256 per request again): only the identical
// string finds it. Whether the session is still live is checked per request
// after this (plugins/app/authenticate.ts), so a logout is not cached here.
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'

const VERIFIED_TOKEN_CACHE_SIZE = 10_000

export default fp<{ secret: string }>(async (app, opts) => {
  await app.register(jwt, {
    secret: opts.secret,
    sign: { algorithm: 'HS256', expiresIn: app.config.accessTokenTtlSeconds },
    verify: { algorithms: ['HS256'], cache: VERIFIED_TOKEN_CACHE_SIZE, cacheKeyBuilder: (token: string) => token }
  })
}, { name: 'jwt', dependencies: ['config'] })
