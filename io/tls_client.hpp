// TlsClient: the client side of one TLS connection, run over memory buffers so that the caller
// owns the socket (UvProbe moves the bytes over a libuv stream). It knows nothing of libuv: bytes
// from the peer go in with receive(), bytes for the peer come out of take_outgoing(), and
// plaintext goes the other way. OpenSSL is hidden behind this header.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace praetor::io {

// One OpenSSL context per owner (UvProbe): the system trust store is loaded once, not per check.
class TlsContext {
 public:
  static Result<std::unique_ptr<TlsContext>> create();
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TlsClient {
 public:
  // `server_name` is the URL's host: sent as SNI when it is a name, and checked against the
  // certificate (DNS name or IP address) unless `verify` is false.
  TlsClient(TlsContext& context, const std::string& server_name, bool verify);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // Starts the handshake; its first flight is then in take_outgoing().
  void start();
  // Queues plaintext for the peer; it is encrypted once the handshake is done.
  void send(std::string_view plaintext);
  // Feeds bytes read from the socket and appends whatever plaintext they complete to
  // `plaintext`. An error (handshake or certificate failure, a corrupt record) is final.
  Result<void> receive(std::string_view ciphertext, std::string& plaintext);
  // Encrypted bytes waiting to be written to the socket.
  std::string take_outgoing();
  bool handshake_done() const { return handshake_done_; }
  // The peer sent close_notify.
  bool closed_by_peer() const { return closed_by_peer_; }

 private:
  Result<void> pump(std::string* plaintext);
  Result<void> error_from(int rc, std::string_view during);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pending_plaintext_;
  bool handshake_done_ = false;
  bool closed_by_peer_ = false;
};

}  // namespace praetor::io
