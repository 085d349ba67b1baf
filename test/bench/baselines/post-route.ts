// What both peers (the naive server and Socket.IO) accept on their posting
// route: the same path, parameters and body limits as Switchboard's.
export const POST_PATH = '/v1/conversations/:id/messages'

export interface PostMessage {
  Params: { id: string }
  Body: { body: string, clientMessageId?: string }
}

export const postSchema = {
  params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
  body: {
    type: 'object',
    required: ['body'],
    properties: { body: { type: 'string', minLength: 1, maxLength: 4000 }, clientMessageId: { type: 'string', maxLength: 64 } }
  }
} as const
