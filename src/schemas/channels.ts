// Public channels (README "Search, channels and invitations").
import { Type } from 'typebox'
import { PageLimit, Timestamp, Uuid } from './common.js'

export const ChannelListQuery = Type.Object({
  // Its length is checked by the directory (domain/channels.ts CHANNEL_QUERY), after trimming, in characters: the answer
  // past either end is INVALID_QUERY, as the contract says. The request line's own limit bounds what arrives.
  query: Type.Optional(Type.String({ description: 'Only channels whose title holds this, case-insensitively: 3-100 characters after trimming (else 400 INVALID_QUERY); empty: all' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' })),
  limit: Type.Optional(PageLimit)
})

export const Channel = Type.Object({
  id: Uuid,
  title: Type.String(),
  createdAt: Timestamp,
  memberCount: Type.Integer({ description: 'Current members' }),
  pictureUrl: Type.Union([Type.String(), Type.Null()], { description: 'The group picture, or null' }),
  joined: Type.Boolean({ description: 'Whether the caller is a member' })
}, { $id: 'Channel', description: 'A public group as the channel directory shows it' })

export const ChannelPage = Type.Object({
  channels: Type.Array(Type.Ref('Channel'), { description: 'Newest first' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' })
})
