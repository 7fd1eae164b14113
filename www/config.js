// Deployment defaults for the page. `?api=<origin>` in the page URL overrides
// apiBase, e.g. /?api=http://127.0.0.1:8787 to use a worker on another origin.
export default {
  apiBase: '',        // '' = the origin that served this page
  maxSide: 2048,      // photos longer than this (px) are shrunk before upload; 0 = never
  jpegQuality: 0.92,  // quality of the shrunk JPEG
  timeoutMs: 30000,   // give up waiting for the API after this long
};
