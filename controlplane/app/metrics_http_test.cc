// The /metrics listener: answers, errors, and a real socket round trip.
#include "metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vpn::cp {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(MetricsHttp, AnswersGetMetricsAndRefusesEverythingElse) {
  EventLoop loop;
  MetricsHttpServer s(loop, [] { return std::string("# HELP a b\n# TYPE a gauge\na 1\n"); });
  std::string ok = s.Respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(ok, HasSubstr("Content-Length: 30\r\n"));
  EXPECT_THAT(ok, HasSubstr("\r\n\r\n# HELP a b\n"));
  std::string head = s.Respond("HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
  EXPECT_THAT(s.Respond("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(s.Respond("GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(s.Respond("POST /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(s.Respond("GET /metrics\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(s.Respond(""), StartsWith("HTTP/1.1 400"));
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = char(rng());
    EXPECT_THAT(s.Respond(junk), StartsWith("HTTP/1.1 "));
  }
}

TEST(MetricsHttp, ServesOverTcpFromTheEventLoop) {
  EventLoop loop;
  MetricsHttpServer s(loop, [] { return std::string(100000, 'x'); });  // > one socket write
  ASSERT_TRUE(s.Listen(0x7F000001, 0).ok());
  ASSERT_NE(s.port(), 0);
  std::string got;
  std::thread client([&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(s.port());
    a.sin_addr.s_addr = htonl(0x7F000001);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
      (void)!write(fd, req, sizeof req - 1);
      char buf[8192];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) got.append(buf, size_t(n));
    }
    close(fd);
    loop.Stop();
  });
  loop.Schedule(absl::Seconds(5), [&] { loop.Stop(); });
  loop.Run();
  client.join();
  EXPECT_THAT(got, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(got.size() - got.find("\r\n\r\n") - 4, 100000u);
  EXPECT_EQ(s.requests(), 1u);
}

}  // namespace
}  // namespace vpn::cp
