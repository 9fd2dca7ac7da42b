// The noVNC client, shared by the Desktop tab and the standalone desktop page.

let rfbModule;
/** noVNC's RFB class, loaded on first use. */
export function loadRfb() {
  rfbModule ||= import('/vendor/novnc/core/rfb.js')
    .then((m) => m.default)
    .catch((e) => { rfbModule = null; throw new Error(`noVNC could not be loaded from /vendor/novnc (run scripts/vendor-web.sh): ${e.message}`); });
  return rfbModule;
}

/**
 * Connect `target` (an empty element) to `wsUrl` (RFB over a websocket, subprotocol
 * `binary`). `on.state(state, detail)` is called with `connecting`, `connected`,
 * `disconnected` (detail: clean), `failed` (detail: message).
 * Returns the RFB object.
 */
export async function openDesktop(target, wsUrl, on = {}) {
  const RFB = await loadRfb();
  const state = on.state || (() => {});
  state('connecting');
  const rfb = new RFB(target, wsUrl, { wsProtocols: ['binary'], shared: true });
  rfb.scaleViewport = true;
  rfb.resizeSession = false;
  rfb.clipViewport = false;
  rfb.focusOnClick = true;
  rfb.background = 'transparent';
  rfb.addEventListener('connect', () => state('connected'));
  rfb.addEventListener('disconnect', (e) => state('disconnected', { clean: !!(e.detail && e.detail.clean) }));
  rfb.addEventListener('securityfailure', (e) => state('failed', { message: `Security negotiation failed: ${(e.detail && e.detail.reason) || 'unknown reason'}` }));
  rfb.addEventListener('credentialsrequired', () => {
    // The service's VNC needs no password; an empty one is the only thing we could send.
    rfb.sendCredentials({ password: '' });
  });
  rfb.addEventListener('desktopname', (e) => on.name && on.name(e.detail && e.detail.name));
  return rfb;
}
