#include "backends/process/wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

namespace quiver::backends::process {
namespace {

const ModelSignature kIris{{{"input", DataType::kFp32, {-1, 4}}}, {{"probabilities", DataType::kFp32, {-1, 3}}}};

TEST(WireTest, LoadMessageRoundTrips) {
  LoadMessage m;
  m.request = LoadRequest{"onnx", "/blobs/ab/cd", kIris, 3};
  m.request.memory_limit_mb = 2048;
  m.request.label = "model 'iris' version 2";
  auto back = decode_load(encode(m));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->request.framework, "onnx");
  EXPECT_EQ(back->request.artifact_path, "/blobs/ab/cd");
  EXPECT_EQ(back->request.declared, kIris);
  EXPECT_EQ(back->request.intra_op_threads, 3);
  EXPECT_EQ(back->request.memory_limit_mb, 2048);
  EXPECT_EQ(back->request.label, "model 'iris' version 2");
}

TEST(WireTest, EveryStatusCodeCrossesAndAnUnknownOneIsRefused) {
  // Codes added to core/status.h after the wire format (e.g. InsufficientStorage) cross too.
  for (int c = 1; status_code_name(static_cast<StatusCode>(c)) != "UNKNOWN"; ++c) {
    const auto code = static_cast<StatusCode>(c);
    auto back = decode_loaded(encode(LoadedMessage{Status(code, "m"), {}}));
    ASSERT_TRUE(back.is_ok()) << status_code_name(code);
    EXPECT_EQ(back->status.code(), code);
  }
  std::string packet = encode(LoadedMessage{Status(StatusCode::kInsufficientStorage, "m"), {}});
  packet[1] = static_cast<char>(200);  // after the kind byte: a code no build knows
  EXPECT_FALSE(decode_loaded(packet).is_ok());
}

TEST(WireTest, LoadedAndReplyCarryStatusAndPayload) {
  auto loaded = decode_loaded(encode(LoadedMessage{Status::ok(), kIris}));
  ASSERT_TRUE(loaded.is_ok());
  EXPECT_TRUE(loaded->status.is_ok());
  EXPECT_EQ(loaded->signature, kIris);

  auto failed = decode_loaded(encode(LoadedMessage{data_loss("not a model"), {}}));
  ASSERT_TRUE(failed.is_ok());
  EXPECT_EQ(failed->status.code(), StatusCode::kDataLoss);
  EXPECT_EQ(failed->status.message(), "not a model");

  TensorsMessage reply;
  reply.tensors.push_back({"probabilities", DataType::kFp32, {2, 3}, 64, 24});
  reply.tensors.push_back({"label", DataType::kBytes, {2}, 128, 13});
  auto back = decode_tensors(MessageKind::kReply, encode(MessageKind::kReply, reply));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  ASSERT_EQ(back->tensors.size(), 2u);
  EXPECT_EQ(back->tensors[1].name, "label");
  EXPECT_EQ(back->tensors[1].dtype, DataType::kBytes);
  EXPECT_EQ(back->tensors[0].shape, (Shape{2, 3}));
  EXPECT_EQ(back->tensors[1].offset, 128u);
  EXPECT_EQ(back->tensors[1].size, 13u);
}

TEST(WireTest, TruncatedOrMislabelledPacketsAreRejected) {
  TensorsMessage infer;
  infer.tensors.push_back({"input", DataType::kFp32, {1, 4}, 0, 16});
  const std::string packet = encode(MessageKind::kInfer, infer);
  for (size_t cut = 0; cut < packet.size(); ++cut) {
    EXPECT_EQ(decode_tensors(MessageKind::kInfer, packet.substr(0, cut)).status().code(), StatusCode::kDataLoss)
        << "cut at " << cut;
  }
  EXPECT_FALSE(decode_tensors(MessageKind::kReply, packet).is_ok());  // wrong kind
  EXPECT_FALSE(decode_tensors(MessageKind::kInfer, packet + "x").is_ok());  // trailing bytes

  // A count far beyond what the packet could hold must not allocate it.
  std::string huge = packet;
  const uint64_t absurd = uint64_t{1} << 60;
  std::memcpy(huge.data() + 1 + 1 + 8, &absurd, sizeof absurd);  // kind, status code, empty message
  EXPECT_FALSE(decode_tensors(MessageKind::kInfer, huge).is_ok());
}

TEST(WireTest, TensorsCrossSharedMemoryIntact) {
  auto writer = SharedBuffer::create("test-writer");
  ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
  const std::vector<float> values{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<std::string> words{"a", "longer word"};
  const std::vector<Tensor> tensors{
      Tensor::from_values<float>("x", DataType::kFp32, {2, 3}, values),
      Tensor("words", DataType::kBytes, {2}, encode_bytes_elements(words)),
      Tensor("empty", DataType::kInt64, {0, 2}, {}),
  };
  auto headers = write_tensors(*writer, tensors);
  ASSERT_TRUE(headers.is_ok()) << headers.status().to_string();
  for (const auto& h : *headers) EXPECT_EQ(h.offset % 64, 0u) << h.name;

  // The reader maps the same memfd through its own fd, as the other process does.
  SharedBuffer reader{UniqueFd(::dup(writer->fd()))};
  auto viewed = view_tensors(reader, *headers);
  auto copied = copy_tensors(reader, *headers);
  ASSERT_TRUE(viewed.is_ok() && copied.is_ok());
  for (const auto* got : {&*viewed, &*copied}) {
    ASSERT_EQ(got->size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ((*got)[i].name(), tensors[i].name());
      EXPECT_EQ((*got)[i].dtype(), tensors[i].dtype());
      EXPECT_EQ((*got)[i].shape(), tensors[i].shape());
      ASSERT_EQ((*got)[i].byte_size(), tensors[i].byte_size());
      EXPECT_EQ(std::memcmp((*got)[i].bytes().data(), tensors[i].bytes().data(), tensors[i].byte_size()), 0);
      EXPECT_TRUE((*got)[i].validate().is_ok());
    }
  }

  // A bigger message grows the file; the reader follows.
  const std::vector<float> big(1 << 20, 0.5f);
  auto grown = write_tensors(*writer, {Tensor::from_values<float>("big", DataType::kFp32, {1 << 20}, big)});
  ASSERT_TRUE(grown.is_ok());
  auto big_back = copy_tensors(reader, *grown);
  ASSERT_TRUE(big_back.is_ok()) << big_back.status().to_string();
  EXPECT_EQ((*big_back)[0].values<float>()[(1 << 20) - 1], 0.5f);
  // The earlier view keeps its mapping alive (no crash), seeing the newer bytes: views
  // are valid only until the next message, which is why replies are copied out.
  EXPECT_EQ((*viewed)[0].values<float>()[2], 0.5f);
}

TEST(WireTest, ExtentBeyondTheSharedFileIsDataLossNotACrash) {
  auto buffer = SharedBuffer::create("test-extent");
  ASSERT_TRUE(buffer.is_ok());
  ASSERT_TRUE(buffer->ensure_writable(100).is_ok());
  SharedBuffer reader{UniqueFd(::dup(buffer->fd()))};
  const std::vector<TensorHeader> lying{{"x", DataType::kFp32, {4}, buffer->mapped_size() - 8, 16}};
  EXPECT_EQ(copy_tensors(reader, lying).status().code(), StatusCode::kDataLoss);
  const std::vector<TensorHeader> overflowing{{"x", DataType::kFp32, {4}, ~uint64_t{0} - 4, 16}};
  EXPECT_EQ(copy_tensors(reader, overflowing).status().code(), StatusCode::kDataLoss);
}

TEST(WireTest, PacketsAndFdsTravelAndAClosedPeerIsUnavailable) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  auto memfd = SharedBuffer::create("test-fd");
  ASSERT_TRUE(memfd.is_ok());
  ASSERT_TRUE(send_packet(a.get(), "hello", {memfd->fd(), memfd->fd()}).is_ok());
  std::vector<UniqueFd> fds;
  auto got = receive_packet(b.get(), &fds);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(*got, "hello");
  EXPECT_EQ(fds.size(), 2u);

  EXPECT_EQ(send_packet(a.get(), std::string(1 << 20, 'x')).code(), StatusCode::kInvalidArgument);

  a.reset();
  EXPECT_EQ(receive_packet(b.get()).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(send_packet(b.get(), "anyone?").code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace quiver::backends::process
