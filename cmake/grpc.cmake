# gRPC frontend code generation: proto/grpc_predict_v2.proto -> C++ messages and
# service stubs in the build folder, compiled into quiver_grpc_proto.
#
# Debian 12 ships gRPC's CMake config (libgrpc++-dev); pkg-config is the fallback for
# systems without it. grpc_cpp_plugin comes from protobuf-compiler-grpc.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG QUIET)
if(TARGET gRPC::grpc++)
  set(QUIVER_GRPCPP gRPC::grpc++)
else()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(QUIVER_GRPCPP_PC REQUIRED IMPORTED_TARGET grpc++)
  set(QUIVER_GRPCPP PkgConfig::QUIVER_GRPCPP_PC)
endif()
find_program(QUIVER_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

set(QUIVER_PROTO_GEN_DIR ${PROJECT_BINARY_DIR}/generated)
set(QUIVER_PREDICT_PROTO ${PROJECT_SOURCE_DIR}/proto/grpc_predict_v2.proto)
set(QUIVER_PREDICT_GEN
    ${QUIVER_PROTO_GEN_DIR}/proto/grpc_predict_v2.pb.cc
    ${QUIVER_PROTO_GEN_DIR}/proto/grpc_predict_v2.pb.h
    ${QUIVER_PROTO_GEN_DIR}/proto/grpc_predict_v2.grpc.pb.cc
    ${QUIVER_PROTO_GEN_DIR}/proto/grpc_predict_v2.grpc.pb.h)

# The proto path is the source root, so sources include "proto/grpc_predict_v2.pb.h".
add_custom_command(
  OUTPUT ${QUIVER_PREDICT_GEN}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${QUIVER_PROTO_GEN_DIR}
  COMMAND protobuf::protoc
          --proto_path=${PROJECT_SOURCE_DIR}
          --cpp_out=${QUIVER_PROTO_GEN_DIR}
          --grpc_out=${QUIVER_PROTO_GEN_DIR}
          --plugin=protoc-gen-grpc=${QUIVER_GRPC_CPP_PLUGIN}
          ${QUIVER_PREDICT_PROTO}
  DEPENDS ${QUIVER_PREDICT_PROTO} protobuf::protoc
  COMMENT "Generating C++ for proto/grpc_predict_v2.proto"
  VERBATIM)

# Generated code is not ours to fix: no project warnings, and its headers are SYSTEM
# so including them never breaks warnings-as-errors.
add_library(quiver_grpc_proto STATIC ${QUIVER_PREDICT_GEN})
target_include_directories(quiver_grpc_proto SYSTEM PUBLIC ${QUIVER_PROTO_GEN_DIR})
target_link_libraries(quiver_grpc_proto PUBLIC protobuf::libprotobuf ${QUIVER_GRPCPP})
