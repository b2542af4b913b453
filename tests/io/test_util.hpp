// Helpers for the io/ tests: temp directories, a host running on its own thread, a blocking
// loopback HTTP/TCP client, and a mailbox the loop thread fills and the test thread waits on.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/uv_host.hpp"

namespace praetor::io::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/praetor-io-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Thread-safe list of strings with a bounded wait.
class Mailbox {
 public:
  void put(std::string item) {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.push_back(std::move(item));
    cv_.notify_all();
  }
  // Waits (at most 10 s) until `count` items have arrived; returns a copy of all items.
  std::vector<std::string> wait_for(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return items_.size() >= count; });
    return items_;
  }
  std::vector<std::string> items() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> items_;
};

// Records log lines; safe to write from the loop thread. Read after the host has stopped.
class RecordingLogger final : public Logger {
 public:
  struct Line {
    LogLevel level;
    std::string subsystem;
    std::string message;
  };
  void log(LogLevel level, std::string_view subsystem, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back({level, std::string(subsystem), std::string(message)});
  }
  bool enabled(LogLevel) const override { return true; }
  std::vector<Line> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<Line> lines_;
};

// A host and its process on a thread of their own. Listeners are bound before the thread starts.
class HostThread {
 public:
  // `logger`, when given, must outlive the host; it is written from the loop thread, so read it
  // after stop() or join().
  HostThread(node::Process& process, HostOptions options, Logger* logger = nullptr) {
    options.handle_signals = false;  // signals are process-wide; the signal test owns them
    host_ = std::make_unique<UvHost>(logger != nullptr ? *logger : logger_, std::move(options));
    auto bound = host_->open();
    EXPECT_TRUE(bound.has_value()) << (bound ? "" : bound.error().message);
    if (bound) bound_ = *bound;
    thread_ = std::thread([this, &process] {
      host_->start(process);
      exit_code_ = host_->run();
    });
  }
  ~HostThread() { stop(); }

  int stop() {
    if (thread_.joinable()) {
      host_->request_shutdown(0);
      thread_.join();
    }
    return exit_code_;
  }
  // Waits for the process to shut the host down by itself.
  int join() {
    if (thread_.joinable()) thread_.join();
    return exit_code_;
  }
  std::uint16_t port(std::size_t i = 0) const { return bound_.at(i).endpoint.port; }
  // The host itself: touch it from the test thread only after stop() or join().
  UvHost& host() { return *host_; }
  node::Endpoint endpoint(std::size_t i = 0) const { return bound_.at(i).endpoint; }

 private:
  NullLogger logger_;
  std::unique_ptr<UvHost> host_;
  std::vector<Listener> bound_;
  std::thread thread_;
  int exit_code_ = -1;
};

// A blocking loopback client with a 10 s receive timeout. `source`, when given, is the local
// address to connect from (any of 127.0.0.0/8), so a test can be several client IPs at once.
class Client {
 public:
  explicit Client(std::uint16_t port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local), 0) << source;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }

  void send(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  // Reads more bytes into the buffer; false on EOF, error or timeout.
  bool fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      // A timeout is not the peer closing: closed_by_peer() must not mistake one for the other.
      eof_ = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  // One whole HTTP response (status line, headers, Content-Length body), or nullopt. A response
  // to HEAD has the length but no body.
  std::optional<std::string> read_response(bool head = false) {
    while (true) {
      auto end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        auto pos = buffer_.find("Content-Length: ");
        if (!head && pos != std::string::npos && pos < end) {
          length = std::stoul(buffer_.substr(pos + 16));
        }
        if (buffer_.size() >= end + 4 + length) {
          std::string out = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return out;
        }
      }
      if (!fill()) return std::nullopt;
    }
  }

  // True when the server closed the connection (EOF or reset) with nothing more buffered; false
  // if it sent more, or if nothing came for the receive timeout (10 s).
  bool closed_by_peer() {
    while (fill()) {
    }
    return buffer_.empty() && eof_;
  }
  std::string& buffer() { return buffer_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

inline std::string body_of(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

}  // namespace praetor::io::testing
