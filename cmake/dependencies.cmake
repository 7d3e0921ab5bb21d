# Third-party dependencies, all from Debian packages (scripts/install-deps.sh).
# Their include folders are SYSTEM so their warnings do not break -Werror.
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(simdjson REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(SQLite3 REQUIRED)
# The registry backend shared by replicas (libpq itself: see src/pg/connection.h).
find_package(PostgreSQL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
if(QUIVER_JEMALLOC)
  find_library(JEMALLOC_LIBRARY jemalloc REQUIRED)  # the server's allocator (src/CMakeLists.txt)
endif()  # S3 remote artifact copies (libcurl signs SigV4 itself)

# libtorch: TorchConfig.cmake ships with Debian's libtorch-dev.
find_package(Torch REQUIRED)
add_library(quiver_torch INTERFACE)
target_link_libraries(quiver_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(quiver_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# OpenCV DNN: libopencv-dnn-dev ships no CMake config, so name the parts directly.
find_path(OPENCV_INCLUDE_DIR opencv2/dnn.hpp PATHS /usr/include/opencv4 REQUIRED)
find_library(OPENCV_DNN_LIB opencv_dnn REQUIRED)
find_library(OPENCV_CORE_LIB opencv_core REQUIRED)
add_library(quiver_opencv INTERFACE)
target_include_directories(quiver_opencv SYSTEM INTERFACE ${OPENCV_INCLUDE_DIR})
target_link_libraries(quiver_opencv INTERFACE ${OPENCV_DNN_LIB} ${OPENCV_CORE_LIB})

add_library(quiver_boost INTERFACE)
target_include_directories(quiver_boost SYSTEM INTERFACE ${Boost_INCLUDE_DIRS})
target_compile_definitions(quiver_boost INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_link_libraries(quiver_boost INTERFACE Threads::Threads)
