#include "api/http/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "api/http/fd_exhaustion.h"
#include "api/http/http_session.h"

namespace quiver::http {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Exceptions never escape our handlers, but an I/O thread must not die silently
// if a library one does: log it and keep serving.
void run_io_thread(net::io_context& io_context) {
  while (true) {
    try {
      io_context.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("HTTP I/O thread caught an exception: {}", e.what());
    } catch (...) {
      spdlog::error("HTTP I/O thread caught an unknown exception");
    }
  }
}

// A connection over max_connections: answered 503 at once, without reading its
// request or creating a session, then closed after a short linger so the client
// reads the answer rather than a reset. Costs one socket for at most kRefuseLinger.
// On a TLS listener it is closed without an answer: plain text would be unreadable
// there, and a handshake would cost what the limit protects.
class RefusedConnection : public std::enable_shared_from_this<RefusedConnection> {
 public:
  explicit RefusedConnection(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void start(uint32_t limit, bool answer) {
    if (!answer) return close();
    const std::string body = "{\"error\": \"the server has " + std::to_string(limit) +
                             " open connections, its limit; retry later\"}";
    response_ = "HTTP/1.1 503 Service Unavailable\r\nServer: quiver\r\nContent-Type: application/json\r\n"
                "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
    timer_.expires_after(kRefuseLinger);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->close(); });
    net::async_write(socket_, net::buffer(response_), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (ec) return self->close();
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

 private:
  static constexpr auto kRefuseLinger = std::chrono::milliseconds(500);

  void drain() {
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }
  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::string response_;
  std::array<char, 4096> scratch_{};
};

}  // namespace

struct HttpServer::Impl {
  enum class State { kNew, kRunning, kStopped };

  explicit Impl(HttpServerOptions options) : context(std::make_shared<detail::ServerContext>()) {
    context->options = std::move(options);
  }

  void add_route(std::string method, std::string_view pattern, RouteTarget target);
  Status listen();
  void accept_next();
  void on_accept(boost::system::error_code ec, detail::ConnectionSocket socket);
  void stop();

  // Declared first so it is destroyed last: the acceptor and timer below use it.
  // Shared because a Responder held past the server's lifetime keeps it alive.
  std::shared_ptr<net::io_context> io_context;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;        // on its own strand
  std::optional<net::steady_timer> accept_retry;  // same strand as the acceptor
  detail::AcceptShedder shedder;                  // faults: used on the acceptor's strand when fds run out
  std::shared_ptr<detail::ServerContext> context;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> bound_port{0};

  std::mutex lifecycle_mu;  // serialises start() and stop()
  State state = State::kNew;
  Status route_error;  // the first invalid route, reported by start()
};

void HttpServer::Impl::add_route(std::string method, std::string_view pattern, RouteTarget target) {
  std::lock_guard lock(lifecycle_mu);
  const std::string context_text = "route " + method + " " + std::string(pattern);
  if (state != State::kNew) {
    // The table is read without locks while serving, so it cannot change now.
    spdlog::error("HTTP {} registered after start() is ignored", context_text);
    return;
  }
  const auto& filter = context->options.route_filter;
  if (filter && !filter(method, pattern)) return;  // served by another listener
  const auto& blocking = context->options.blocking_route;
  target.blocking = blocking && blocking(method, pattern);
  Status added = (target.handler || target.upload) ? context->routes.add(std::move(method), pattern, std::move(target))
                                                   : invalid_argument(context_text + ": empty handler");
  if (!added.is_ok() && route_error.is_ok()) route_error = std::move(added);
}

Status HttpServer::Impl::listen() {
  const HttpServerOptions& options = context->options;
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(*io_context);
    const auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || results.empty()) {
      return unavailable("cannot resolve HTTP host '" + options.host + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  const auto fail = [&](std::string_view step) {
    return unavailable("cannot " + std::string(step) + " HTTP socket on " + options.host + ":" +
                       std::to_string(options.port) + ": " + ec.message());
  };
  acceptor->open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor->bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  const tcp::endpoint local = acceptor->local_endpoint(ec);
  if (ec) return fail("inspect");
  bound_port = local.port();
  return Status::ok();
}

void HttpServer::Impl::accept_next() {
  // Each connection gets its own strand: its handlers never run concurrently, while
  // different connections run in parallel on the pool.
  acceptor->async_accept(net::make_strand(*io_context),
                         [this](boost::system::error_code ec, detail::ConnectionSocket socket) { on_accept(ec, std::move(socket)); });
}

void HttpServer::Impl::on_accept(boost::system::error_code ec, detail::ConnectionSocket socket) {
  if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // E.g. out of file descriptors: retry shortly instead of spinning.
    std::chrono::milliseconds backoff(100);
    // --- faults (fd_exhaustion.h): out of descriptors, answer the waiting clients 503
    // with a spare descriptor instead of leaving them hanging in the backlog.
    if (ec.category() == boost::system::system_category() && detail::is_out_of_descriptors(ec.value())) {
      shedder.shed(acceptor->native_handle());
      backoff = detail::AcceptShedder::kBackoff;
    } else {  // --- end faults
      spdlog::warn("HTTP accept failed: {}; retrying", ec.message());
    }
    accept_retry->expires_after(backoff);
    accept_retry->async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && acceptor->is_open()) accept_next();
    });
    return;
  }
  // --- faults (fd_exhaustion.h): keep a reserve of descriptors for the rest of the
  // server; a connection that would eat into it is answered 503.
  if (detail::descriptors_running_low(socket.native_handle())) {
    detail::refuse_for_descriptors(std::move(socket));
    shedder.note_refused(1);
    accept_next();
    return;
  }  // --- end faults
  std::shared_ptr<detail::Session> session;
  bool over_limit = false;
  {
    std::lock_guard lock(context->mu);
    over_limit = context->sessions.size() >= context->options.max_connections;
    if (!context->stopping && !over_limit) {
      const uint64_t id = context->next_session_id++;
      session = std::make_shared<detail::Session>(std::move(socket), context, io_context, id);
      context->sessions.emplace(id, session);
    }
  }
  if (session) {
    session->start();
  } else if (over_limit) {
    std::make_shared<RefusedConnection>(std::move(socket))
        ->start(context->options.max_connections, /*answer=*/context->options.tls == nullptr);
  }
  accept_next();
}

void HttpServer::Impl::stop() {
  std::lock_guard lifecycle(lifecycle_mu);
  if (state != State::kRunning) {
    state = State::kStopped;
    return;
  }
  state = State::kStopped;

  net::post(acceptor->get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
    accept_retry->cancel();
  });

  // Ask every connection to close (idle ones at once, busy ones after their response).
  // Sessions are released outside the lock: their destructor takes it.
  std::vector<std::shared_ptr<detail::Session>> live;
  {
    std::lock_guard lock(context->mu);
    context->stopping = true;
    for (const auto& [id, weak] : context->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (const auto& session : live) session->begin_shutdown();
  live.clear();

  {
    std::unique_lock lock(context->mu);
    context->all_closed.wait_for(lock, context->options.stop_grace, [&] { return context->sessions.empty(); });
  }

  work.reset();
  io_context->stop();
  for (std::thread& thread : threads) thread.join();
  threads.clear();
  // A blocking handler still running finishes (as one on an I/O thread would have);
  // its response has nowhere to go now.
  if (context->blocking_pool) context->blocking_pool->join();

  // Past the grace period: close what is left so clients are not left hanging. The
  // session objects go away with the io_context (or their handler's Responder).
  boost::system::error_code ignored;
  acceptor->close(ignored);
  {
    std::lock_guard lock(context->mu);
    for (const auto& [id, weak] : context->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (const auto& session : live) session->close_after_stop();
  live.clear();
}

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { impl_->stop(); }

void HttpServer::route(std::string method, std::string pattern, Handler handler) {
  impl_->add_route(std::move(method), pattern, RouteTarget{std::move(handler), {}});
}

void HttpServer::route_upload(std::string method, std::string pattern, UploadHandler handler) {
  impl_->add_route(std::move(method), pattern, RouteTarget{{}, std::move(handler)});
}

void HttpServer::set_request_guard(RequestGuard guard) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->state != Impl::State::kNew) {
    spdlog::error("HTTP request guard installed after start() is ignored");
    return;
  }
  impl_->context->guard = std::move(guard);
}

Status HttpServer::start() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle_mu);
  if (impl.state != Impl::State::kNew) return failed_precondition("the HTTP server was already started");
  QUIVER_RETURN_IF_ERROR(impl.route_error);

  // Half the cores by default: the other half computes (model workers, gRPC). On two
  // cores one I/O thread answered about 20 us sooner at one connection than two, which
  // hand the reactor to each other on every request, and served as much at 32. Nothing
  // that blocks runs on these threads (blocking_route), so one is enough there.
  const int hinted = impl.context->options.threads;
  const int thread_count =
      hinted > 0 ? hinted : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  impl.io_context = std::make_shared<net::io_context>(thread_count);
  impl.acceptor.emplace(net::make_strand(*impl.io_context));
  impl.accept_retry.emplace(impl.acceptor->get_executor());
  Status listening = impl.listen();
  if (!listening.is_ok()) {
    impl.accept_retry.reset();
    impl.acceptor.reset();
    impl.io_context.reset();
    return listening;
  }

  const auto& options = impl.context->options;
  if (options.blocking_route) {
    impl.context->blocking_pool = std::make_shared<net::thread_pool>(static_cast<size_t>(std::max(1, options.blocking_threads)));
  }
  impl.work.emplace(impl.io_context->get_executor());
  net::post(impl.acceptor->get_executor(), [&impl] { impl.accept_next(); });
  impl.threads.reserve(static_cast<size_t>(thread_count));
  for (int i = 0; i < thread_count; ++i) {
    impl.threads.emplace_back([io_context = impl.io_context] { run_io_thread(*io_context); });
  }
  impl.state = Impl::State::kRunning;
  return Status::ok();
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() { impl_->stop(); }

}  // namespace quiver::http
