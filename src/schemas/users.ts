import { Type, type Static } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

export const USERNAME_PATTERN = '^[A-Za-z0-9_.]{3,32}$'

export const Username = Type.String({ minLength: 3, maxLength: 32, pattern: USERNAME_PATTERN, description: '3-32 of A-Z a-z 0-9 _ . ; case-insensitive' })
// A password is hashed and compared in Unicode NFKC (domain/passwords.ts), and its length is counted there too
// (x-nfkc-length, domain/validator.ts): 8-256 characters whether typed composed ("é") or decomposed ("e" + U+0301).
// As sent it may be longer, by up to four code points a character (the longest canonical decomposition, as of U+1F82).
export const Password = Type.String({
  minLength: 1,
  maxLength: 1024,
  'x-nfkc-length': { minLength: 8, maxLength: 256 },
  description: '8-256 characters, counted once normalised to Unicode NFKC (as it is hashed and compared)'
})
/** A password to check against the account's: any length a Password may be sent with. */
export const CurrentPassword = Type.String({ minLength: 1, maxLength: 1024, description: 'Compared once normalised to Unicode NFKC' })
// At least one character that shows (not a space, a control, a format character such as a zero-width space, nor a
// blank that Unicode counts as a letter or symbol: Hangul fillers, the braille blank), and no control or bidi
// override anywhere: a name must not look blank nor reorder the text around it.
const VISIBLE_NAME = '^(?=.*[^\\s\\p{Cc}\\p{Cf}\\p{Z}\\u115F\\u1160\\u3164\\uFFA0\\u2800])[^\\p{Cc}\\u202A-\\u202E\\u2066-\\u2069]+$'
export const DisplayName = Type.String({ minLength: 1, maxLength: 64, pattern: VISIBLE_NAME, description: '1-64 characters, at least one visible; no control characters or bidi overrides' })

export const User = Type.Object({
  id: Uuid,
  username: Type.String(),
  displayName: Type.String(),
  createdAt: Timestamp,
  avatarUrl: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'The avatar (GET it: 302 to the image; no token needed), or null (README "Attachments")' }))
}, { $id: 'User' })
export type User = Static<typeof User>

export const PublicUser = Type.Object({
  id: Uuid,
  username: Type.String(),
  displayName: Type.String(),
  createdAt: Timestamp,
  avatarUrl: Type.Union([Type.String(), Type.Null()], { description: 'The avatar (GET it: 302 to the image; no token needed), or null' }),
  online: Type.Boolean(),
  lastSeenAt: Type.Union([Timestamp, Type.Null()])
}, { $id: 'PublicUser' })
export type PublicUser = Static<typeof PublicUser>

export const UserSearchQuery = Type.Object({
  query: Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_.]+$', description: 'Username prefix, 3 characters or more' }),
  limit: Type.Optional({ ...PageLimit, default: 20 })
})
export type UserSearchQuery = Static<typeof UserSearchQuery>

export const UserList = Type.Object({ users: Type.Array(Type.Ref('User')) }, { description: 'Users without presence (presence is for users who share a conversation)' })

// An id in its one spelling, lower-case hex (src/domain/ids.ts): upper case answers 400 here as everywhere.
const ID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

export const PresenceQuery = Type.Object({
  userIds: Type.String({
    minLength: 36,
    maxLength: 100 * 37,
    pattern: `^${ID}(,${ID}){0,99}$`,
    description: 'Up to 100 user ids, comma-separated, lower case'
  })
})

export const PresenceList = Type.Object({
  presence: Type.Array(Type.Object({
    userId: Uuid,
    online: Type.Boolean(),
    lastSeenAt: Type.Union([Timestamp, Type.Null()])
  }), { description: 'One entry per existing user asked for, in no particular order; false and null for a user who does not share a conversation with the caller or has blocked them' })
})
export type PresenceList = Static<typeof PresenceList>
