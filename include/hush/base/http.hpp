// What an HTTP endpoint sees of a request and answers, as plain values: the endpoints
// (metrics, the credential API) are functions of these, and net::HttpServer carries them.
// The peer's address is deliberately not part of a request.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hush::http {

struct Request {
  std::string method;         // "GET"
  std::string target;         // "/path?query"
  std::string authorization;  // the Authorization header, if any
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

inline std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace hush::http
