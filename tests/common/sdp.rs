//! SDP the media tests send when they need an offer but no real peer.

/// A minimal valid offer with one audio and one video section (sendrecv, so it serves WHIP
/// and WHEP alike). It is answered but never connects; the server drops such sessions.
pub const MINIMAL_OFFER: &str = "v=0\r\n\
o=- 4215775240449105457 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=fingerprint:sha-256 3C:4E:2D:97:14:6E:B0:61:6A:1E:43:5C:9F:92:A1:04:28:8D:3B:6F:51:27:0C:EE:AB:45:7B:19:3E:0A:F6:D2\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:mtrx\r\n\
a=ice-pwd:matrixmatrixmatrixmatrix\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:mtrx\r\n\
a=ice-pwd:matrixmatrixmatrixmatrix\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n";
