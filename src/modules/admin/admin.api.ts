import { z } from 'zod';
import type { ApiDoc } from '../../http/openapi.js';
import { sessionJsonSchema } from '../sessions/sessions.schema.js';
import { adminUserJsonSchema, disableBodySchema, listUsersQuerySchema, setRoleBodySchema, userIdSchema } from './admin.schema.js';

const admin = (role: 'SUPPORT' | 'ADMIN', summary: string, rest: Omit<ApiDoc, 'summary' | 'tags' | 'security'>): ApiDoc => ({
  summary: `${summary} (${role})`,
  tags: ['admin'],
  security: 'bearer',
  params: userIdSchema,
  ...rest,
  errors: ['FORBIDDEN', 'BAD_USER_INPUT', ...(rest.errors ?? [])],
});
const account = (twin: string) => ({ 200: { description: `The account as it is now (GraphQL twin: ${twin})`, schema: adminUserJsonSchema } });

/** OpenAPI declarations of the operators' routes under /v1/admin (src/http/openapi.ts). */
export const ADMIN_API = {
  users: admin('SUPPORT', 'Accounts, newest first, filtered and paged', {
    params: undefined,
    query: listUsersQuerySchema,
    responses: {
      200: {
        description: 'pageInfo.endCursor is the next page\'s after (GraphQL twin: users)',
        schema: z.object({ users: z.array(adminUserJsonSchema), pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable() }), totalCount: z.int() }),
      },
    },
  }),
  user: admin('SUPPORT', 'One account', { responses: account('user'), errors: ['NOT_FOUND'] }),
  userSessions: admin('SUPPORT', "An account's live sessions, most recently used first", {
    responses: { 200: { description: 'Empty for an unknown id (GraphQL twin: userSessions)', schema: z.object({ sessions: z.array(sessionJsonSchema) }) } },
  }),
  disable: admin('ADMIN', 'Disable an account: no sign-in, every session ends at once', { body: disableBodySchema, bodyRequired: false, responses: account('disableUser') }),
  enable: admin('ADMIN', 'Let a disabled account sign in again', { responses: account('enableUser') }),
  revokeSessions: admin('SUPPORT', 'End every session of an account', {
    responses: { 200: { description: 'How many ended (GraphQL twin: revokeUserSessions)', schema: z.object({ revoked: z.int() }) } },
  }),
  resetMfa: admin('ADMIN', 'Turn the second factor of an account off', { responses: account('resetUserMfa') }),
  unlock: admin('SUPPORT', 'Lift every lockout of an account', { responses: account('unlockUser') }),
  setRole: admin('ADMIN', "Set an account's role; the last ADMIN cannot be demoted", { body: setRoleBodySchema, responses: account('setUserRole') }),
  deleteUser: admin('ADMIN', 'Erase an account', { responses: { 204: { description: 'Erased (GraphQL twin: deleteUser)' } } }),
} as const satisfies Record<string, ApiDoc>;
