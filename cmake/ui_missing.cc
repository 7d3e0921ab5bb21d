// The console's stand-in when the build had no Node.js or no ui/node_modules
// (cmake/ui.cmake says so at configure time): /ui explains how to get the real one.
#include "api/http/ui_assets.h"

namespace quiver::http {
namespace {

constexpr std::string_view kPage =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Quiver</title></head><body>"
    "<h1>Quiver</h1><p>This binary was built without its web console. Build it with "
    "<code>scripts/build.sh</code>, which installs the console's npm packages (ui/) and embeds "
    "the console in the binary.</p><p>The JSON API is available as usual.</p></body></html>";

const UiAsset kAssets[] = {{"index.html", "text/html; charset=utf-8", "\"missing-console\"", kPage}};

}  // namespace

std::span<const UiAsset> ui_assets() { return kAssets; }

}  // namespace quiver::http
