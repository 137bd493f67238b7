import { resolver, type Feature } from '../feature.js';
import { signInDeniedTemplate } from './sign-in-denied.template.js';
import { SignInDenialResolver } from './sign-in-denial.resolver.js';
import { signInDenialRoutes } from './sign-in-denial.routes.js';
import type { SignInDenialService } from './sign-in-denial.service.js';

/** "Was this you?": the link of the new sign-in notice that ends that session, and the notice that follows. */
export const signInDenialModule: Feature<{ signInDenial: SignInDenialService }> = {
  name: 'sign-in-denial',
  resolvers: [resolver(SignInDenialResolver, (w) => new SignInDenialResolver(w.signInDenial))],
  routes: (w) => [signInDenialRoutes(w.signInDenial)],
  templates: [signInDeniedTemplate],
};
