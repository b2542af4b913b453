#include "io/tls_client.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>

#include "core/base/assert.hpp"

namespace praetor::io {
namespace {

bool is_ip_literal(const std::string& host) {
  std::array<unsigned char, 16> scratch{};
  return ::inet_pton(AF_INET, host.c_str(), scratch.data()) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), scratch.data()) == 1;
}

// The oldest queued OpenSSL error as text, emptying the (thread-local) queue so that it cannot
// be blamed on the next connection.
std::string drain_openssl_errors() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return {};
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : fmt::format("error {:#x}", first);
}

}  // namespace

struct TlsContext::Impl {
  SSL_CTX* ctx = nullptr;
};

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlsContext::~TlsContext() { SSL_CTX_free(impl_->ctx); }

Result<std::unique_ptr<TlsContext>> TlsContext::create() {
  auto impl = std::make_unique<Impl>();
  impl->ctx = SSL_CTX_new(TLS_client_method());
  if (impl->ctx == nullptr) {
    return make_error(ErrorCode::kInternal,
                      "tls: cannot create a context: " + drain_openssl_errors());
  }
  // Go's crypto/tls (what Consul's checks use) speaks TLS 1.2 and 1.3 only.
  SSL_CTX_ctrl(impl->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
  if (SSL_CTX_set_default_verify_paths(impl->ctx) != 1) {
    // Not fatal: with no trust store every verified check fails with a clear x509 error, and
    // tls_skip_verify checks still work.
    ERR_clear_error();
  }
  return std::unique_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

struct TlsClient::Impl {
  SSL* ssl = nullptr;
  BIO* incoming = nullptr;  // owned by ssl
  BIO* outgoing = nullptr;  // owned by ssl
  bool verify = true;
};

TlsClient::TlsClient(TlsContext& context, const std::string& server_name, bool verify)
    : impl_(std::make_unique<Impl>()) {
  impl_->verify = verify;
  impl_->ssl = SSL_new(context.impl().ctx);
  PRAETOR_ASSERT(impl_->ssl != nullptr);
  impl_->incoming = BIO_new(BIO_s_mem());
  impl_->outgoing = BIO_new(BIO_s_mem());
  PRAETOR_ASSERT(impl_->incoming != nullptr && impl_->outgoing != nullptr);
  SSL_set_bio(impl_->ssl, impl_->incoming, impl_->outgoing);
  SSL_set_connect_state(impl_->ssl);
  bool ip = is_ip_literal(server_name);
  // SNI carries host names only (RFC 6066 §3).
  // SSL_set_tlsext_host_name() is a macro with a C cast in it; this is what it expands to.
  if (!ip) {
    SSL_ctrl(impl_->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server_name.c_str()));
  }
  if (verify) {
    SSL_set_verify(impl_->ssl, SSL_VERIFY_PEER, nullptr);
    X509_VERIFY_PARAM* param = SSL_get0_param(impl_->ssl);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
    }
  } else {
    SSL_set_verify(impl_->ssl, SSL_VERIFY_NONE, nullptr);
  }
}

TlsClient::~TlsClient() { SSL_free(impl_->ssl); }

void TlsClient::start() {
  ERR_clear_error();
  // Writes the ClientHello into the outgoing BIO; the answer comes through receive().
  (void)pump(nullptr);
}

void TlsClient::send(std::string_view plaintext) {
  pending_plaintext_.append(plaintext);
  if (handshake_done_) (void)pump(nullptr);
}

std::string TlsClient::take_outgoing() {
  std::string out;
  std::array<char, 16 * 1024> chunk{};
  while (BIO_ctrl_pending(impl_->outgoing) > 0) {
    int n = BIO_read(impl_->outgoing, chunk.data(), static_cast<int>(chunk.size()));
    if (n <= 0) break;
    out.append(chunk.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Result<void> TlsClient::receive(std::string_view ciphertext, std::string& plaintext) {
  ERR_clear_error();
  if (!ciphertext.empty()) {
    // A memory BIO grows to hold whatever it is given; the caller hands over one socket read at
    // a time and pump() drains it, so it stays small.
    int n = BIO_write(impl_->incoming, ciphertext.data(), static_cast<int>(ciphertext.size()));
    if (n != static_cast<int>(ciphertext.size())) {
      return make_error(ErrorCode::kInternal, "tls: " + drain_openssl_errors());
    }
  }
  return pump(&plaintext);
}

Result<void> TlsClient::pump(std::string* plaintext) {
  if (!handshake_done_) {
    int rc = SSL_do_handshake(impl_->ssl);
    if (rc != 1) return error_from(rc, "handshake");
    handshake_done_ = true;
  }
  while (!pending_plaintext_.empty()) {
    std::size_t written = 0;
    int rc =
        SSL_write_ex(impl_->ssl, pending_plaintext_.data(), pending_plaintext_.size(), &written);
    if (rc != 1) return error_from(rc, "write");
    pending_plaintext_.erase(0, written);
  }
  if (plaintext == nullptr) return ok();
  std::array<char, 16 * 1024> chunk{};
  while (!closed_by_peer_) {
    std::size_t n = 0;
    int rc = SSL_read_ex(impl_->ssl, chunk.data(), chunk.size(), &n);
    if (rc != 1) {
      if (SSL_get_error(impl_->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
        closed_by_peer_ = true;
        break;
      }
      return error_from(rc, "read");
    }
    plaintext->append(chunk.data(), n);
  }
  return ok();
}

Result<void> TlsClient::error_from(int rc, std::string_view during) {
  int code = SSL_get_error(impl_->ssl, rc);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return ok();  // more bytes from the peer are needed; the outgoing BIO never fills
  }
  // A failed certificate check is what users most need to see plainly, in Go's words.
  long verified = SSL_get_verify_result(impl_->ssl);
  if (impl_->verify && !handshake_done_ && verified != X509_V_OK) {
    ERR_clear_error();
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("tls: failed to verify certificate: x509: {}",
                                  X509_verify_cert_error_string(verified)));
  }
  std::string reason = drain_openssl_errors();
  if (reason.empty()) reason = fmt::format("SSL error {}", code);
  return make_error(ErrorCode::kUnavailable, fmt::format("tls: {} failed: {}", during, reason));
}

}  // namespace praetor::io
