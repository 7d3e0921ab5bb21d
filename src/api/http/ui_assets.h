// The web console's files, embedded in the binary at build time: cmake/ui.cmake runs
// the front-end build (web/) and generates the .cc that defines ui_assets(). Nothing
// is read from disk or fetched at run time.
#pragma once

#include <span>
#include <string_view>

namespace quiver::http {

struct UiAsset {
  std::string_view name;          // "index.html", "app.js", ...: served at /ui/<name>
  std::string_view content_type;  // with charset for text
  std::string_view etag;          // quoted strong validator: a hash of the bytes
  std::string_view body;
};

// Every embedded file; "index.html" is always among them (a page that says the
// console was not built, when the build had no Node.js).
std::span<const UiAsset> ui_assets();

}  // namespace quiver::http
