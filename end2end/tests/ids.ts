// Mirrors app/src/ids.rs. Change both together.
export const ids = {
  homeHeading: 'home-heading',
  signinStatus: 'signin-status',
  signinLink: 'signin-link',
  signedInAs: 'signed-in-as',
  signoutButton: 'signout-button',
  serverInfo: 'server-info',
  serverInfoRefresh: 'server-info-refresh',
  serverInfoError: 'server-info-error',
  notFound: 'not-found',
  errorPanel: 'error-panel',
} as const;
