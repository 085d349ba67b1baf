import { Type, type Static } from 'typebox'
import { CurrentPassword, DisplayName, Password, Username } from './users.js'

export const RegisterBody = Type.Object({
  username: Username,
  password: Password,
  displayName: Type.Optional(DisplayName)
}, { additionalProperties: false })
export type RegisterBody = Static<typeof RegisterBody>

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 32 }),
  password: CurrentPassword
}, { additionalProperties: false })
export type LoginBody = Static<typeof LoginBody>

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 256 })
}, { additionalProperties: false })
export type RefreshBody = Static<typeof RefreshBody>

export const AuthResult = Type.Object({
  user: Type.Ref('User'),
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' })
}, { $id: 'AuthResult' })
