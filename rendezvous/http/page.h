// page: the live view's single HTML page (rendezvous/http/assets/index.html),
// embedded at build time so the daemon serves it offline, without any CDN.
#ifndef TPLAUNCH_RENDEZVOUS_HTTP_PAGE_H_
#define TPLAUNCH_RENDEZVOUS_HTTP_PAGE_H_

namespace tplaunch {

extern const char kLivePage[];

}  // namespace tplaunch

#endif  // TPLAUNCH_RENDEZVOUS_HTTP_PAGE_H_
