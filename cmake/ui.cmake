# The web console (ui/, preact + uPlot bundled by esbuild) is built into the build tree
# and embedded in quiver_http as a generated .cc, so the binary serves /ui with nothing
# on disk. Needs Node.js and ui/node_modules, which scripts/build.sh installs from the
# lockfile (npm ci); without them the binary gets a page that says how to build it.
find_program(QUIVER_NODE node)
set(QUIVER_UI_DIR ${PROJECT_SOURCE_DIR}/ui)
set(QUIVER_UI_CC ${PROJECT_BINARY_DIR}/ui/ui_assets.cc)
if(QUIVER_NODE AND EXISTS ${QUIVER_UI_DIR}/node_modules/esbuild/package.json)
  file(GLOB_RECURSE QUIVER_UI_SOURCES CONFIGURE_DEPENDS ${QUIVER_UI_DIR}/src/*)
  add_custom_command(
    OUTPUT ${QUIVER_UI_CC}
    COMMAND ${QUIVER_NODE} ${QUIVER_UI_DIR}/build.mjs --outdir ${PROJECT_BINARY_DIR}/ui/dist --cc ${QUIVER_UI_CC}
    DEPENDS ${QUIVER_UI_SOURCES} ${QUIVER_UI_DIR}/build.mjs ${QUIVER_UI_DIR}/package-lock.json
    COMMENT "Building the web console (ui/)"
    VERBATIM)
  target_sources(quiver_http PRIVATE ${QUIVER_UI_CC})
else()
  message(WARNING "The web console is not built (needs node and ui/node_modules: run scripts/build.sh, "
                  "which runs npm ci in ui/); /ui will say so.")
  target_sources(quiver_http PRIVATE ${PROJECT_SOURCE_DIR}/cmake/ui_missing.cc)
endif()
