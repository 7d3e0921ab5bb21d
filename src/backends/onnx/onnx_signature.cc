#include "backends/onnx/onnx_signature.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace quiver::backends::onnx {
namespace {

// Field numbers from onnx.proto (see the header).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kGraphInput = 11;
constexpr uint32_t kGraphOutput = 12;
constexpr uint32_t kTensorName = 8;
constexpr uint32_t kValueInfoName = 1;
constexpr uint32_t kValueInfoType = 2;
constexpr uint32_t kTypeTensorType = 1;
constexpr uint32_t kTensorTypeElemType = 1;
constexpr uint32_t kTensorTypeShape = 2;
constexpr uint32_t kShapeDim = 1;
constexpr uint32_t kDimValue = 1;
constexpr uint32_t kDimParam = 2;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

Status malformed(std::string_view why) {
  return data_loss("artifact is not a valid ONNX model: " + std::string(why));
}

// One decoded field: its number, wire type and payload (a varint value or the bytes
// of a length-delimited field).
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::span<const std::byte> bytes;
};

// Walks the fields of one serialized message, bounds-checking every read.
class WireReader {
 public:
  WireReader(std::span<const std::byte> bytes, std::string_view message)
      : bytes_(bytes), message_(message) {}

  bool done() const { return pos_ >= bytes_.size(); }

  Status next(Field& field) {
    uint64_t key = 0;
    QUIVER_RETURN_IF_ERROR(read_varint(key));
    field.number = static_cast<uint32_t>(key >> 3);
    field.wire_type = static_cast<uint32_t>(key & 7);
    if (field.number == 0 || (key >> 3) > 0x1fffffff) return error("a field number out of range");
    field.varint = 0;
    field.bytes = {};
    switch (field.wire_type) {
      case kVarint:
        return read_varint(field.varint);
      case kFixed64:
        return skip(8);
      case kFixed32:
        return skip(4);
      case kLengthDelimited: {
        uint64_t length = 0;
        QUIVER_RETURN_IF_ERROR(read_varint(length));
        if (length > bytes_.size() - pos_) return error("a field longer than its message");
        field.bytes = bytes_.subspan(pos_, static_cast<size_t>(length));
        pos_ += static_cast<size_t>(length);
        return Status::ok();
      }
      default:  // groups (3, 4) are not used by onnx.proto; 6 and 7 do not exist
        return error("an unsupported wire type " + std::to_string(field.wire_type));
    }
  }

  // A field we decode must have the wire type onnx.proto gives it.
  Status expect(const Field& field, uint32_t wire_type) const {
    if (field.wire_type == wire_type) return Status::ok();
    return error("field " + std::to_string(field.number) + " has wire type " +
                 std::to_string(field.wire_type) + ", expected " + std::to_string(wire_type));
  }

 private:
  Status read_varint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return error("a truncated varint");
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return Status::ok();
    }
    return error("a varint longer than 10 bytes");
  }

  Status skip(size_t n) {
    if (n > bytes_.size() - pos_) return error("a truncated fixed-width field");
    pos_ += n;
    return Status::ok();
  }

  Status error(const std::string& what) const {
    return malformed(what + " in " + std::string(message_) + " at byte " + std::to_string(pos_));
  }

  std::span<const std::byte> bytes_;
  std::string_view message_;
  size_t pos_ = 0;
};

std::string to_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Status parse_dimension(std::span<const std::byte> bytes, int64_t& dim) {
  dim = -1;  // a dim_param or no value at all: the size is not fixed
  WireReader reader(bytes, "TensorShapeProto.Dimension");
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number == kDimValue) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kVarint));
      const auto value = static_cast<int64_t>(f.varint);
      dim = value >= 0 ? value : -1;
    } else if (f.number == kDimParam) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
      dim = -1;
    }
  }
  return Status::ok();
}

Status parse_shape(std::span<const std::byte> bytes, Shape& shape) {
  WireReader reader(bytes, "TensorShapeProto");
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number != kShapeDim) continue;
    QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
    int64_t dim = -1;
    QUIVER_RETURN_IF_ERROR(parse_dimension(f.bytes, dim));
    shape.push_back(dim);
  }
  return Status::ok();
}

Status parse_tensor_type(std::span<const std::byte> bytes, OnnxValueInfo& info) {
  WireReader reader(bytes, "TypeProto.Tensor");
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number == kTensorTypeElemType) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kVarint));
      info.elem_type = static_cast<int32_t>(f.varint);
    } else if (f.number == kTensorTypeShape) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
      info.has_shape = true;
      info.shape.clear();
      QUIVER_RETURN_IF_ERROR(parse_shape(f.bytes, info.shape));
    }
  }
  return Status::ok();
}

Status parse_value_info(std::span<const std::byte> bytes, OnnxValueInfo& info) {
  WireReader reader(bytes, "ValueInfoProto");
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number == kValueInfoName) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
      info.name = to_string(f.bytes);
    } else if (f.number == kValueInfoType) {
      QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
      // TypeProto is a oneof; only tensor_type describes something Quiver can serve,
      // so a sequence or map type leaves elem_type at 0 (unsupported).
      WireReader type_reader(f.bytes, "TypeProto");
      Field t;
      while (!type_reader.done()) {
        QUIVER_RETURN_IF_ERROR(type_reader.next(t));
        if (t.number != kTypeTensorType) continue;
        QUIVER_RETURN_IF_ERROR(type_reader.expect(t, kLengthDelimited));
        QUIVER_RETURN_IF_ERROR(parse_tensor_type(t.bytes, info));
      }
    }
  }
  return Status::ok();
}

Status parse_initializer_name(std::span<const std::byte> bytes, std::string& name) {
  WireReader reader(bytes, "TensorProto");
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number != kTensorName) continue;
    QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
    name = to_string(f.bytes);
  }
  return Status::ok();
}

Status parse_graph(std::span<const std::byte> bytes, OnnxGraphIo& io) {
  WireReader reader(bytes, "GraphProto");
  std::unordered_set<std::string> initializers;
  std::vector<OnnxValueInfo> all_inputs;
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number != kGraphInput && f.number != kGraphOutput && f.number != kGraphInitializer) {
      continue;
    }
    QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
    if (f.number == kGraphInitializer) {
      std::string name;
      QUIVER_RETURN_IF_ERROR(parse_initializer_name(f.bytes, name));
      initializers.insert(std::move(name));
      continue;
    }
    OnnxValueInfo info;
    QUIVER_RETURN_IF_ERROR(parse_value_info(f.bytes, info));
    if (info.name.empty()) return malformed("a graph input or output without a name");
    (f.number == kGraphInput ? all_inputs : io.outputs).push_back(std::move(info));
  }
  // Older exporters list every weight as a graph input too; those have a value in
  // the file and are not fed by a request.
  for (auto& input : all_inputs) {
    if (!initializers.contains(input.name)) io.inputs.push_back(std::move(input));
  }
  // Names are unique in a valid graph; a repeated one would give a signature with
  // two tensors of one name (and perhaps two types) that no request can match.
  for (const auto* side : {&io.inputs, &io.outputs}) {
    std::unordered_set<std::string_view> seen;
    for (const auto& info : *side) {
      if (!seen.insert(info.name).second) {
        return malformed("the graph lists " + std::string(side == &io.inputs ? "input" : "output") + " '" +
                         info.name + "' twice");
      }
    }
  }
  return Status::ok();
}

std::string elem_type_name(int32_t elem_type) {
  static constexpr std::string_view kNames[] = {
      "UNDEFINED", "FLOAT",  "UINT8",  "INT8",   "UINT16",    "INT16",      "INT32",   "INT64",
      "STRING",    "BOOL",   "FLOAT16", "DOUBLE", "UINT32",   "UINT64",     "COMPLEX64",
      "COMPLEX128", "BFLOAT16"};
  if (elem_type >= 0 && elem_type < static_cast<int32_t>(std::size(kNames))) {
    return std::string(kNames[elem_type]);
  }
  return "type " + std::to_string(elem_type);
}

const TensorSpec* find_spec(const std::vector<TensorSpec>& specs, const std::string& name) {
  auto it = std::find_if(specs.begin(), specs.end(), [&](const TensorSpec& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

std::string names_of(const std::vector<OnnxValueInfo>& infos) {
  std::string out;
  for (const auto& info : infos) out += (out.empty() ? "'" : ", '") + info.name + "'";
  return out.empty() ? "none" : out;
}

// Builds the specs of one side (inputs or outputs) and checks the declared ones.
Status effective_specs(const std::vector<OnnxValueInfo>& model, const std::vector<TensorSpec>& declared,
                       std::string_view side, bool shape_required, std::vector<TensorSpec>& out) {
  const std::string side_name(side);
  for (const auto& spec : declared) {
    const bool in_model = std::any_of(model.begin(), model.end(),
                                      [&](const OnnxValueInfo& v) { return v.name == spec.name; });
    if (!in_model) {
      return invalid_argument("declared " + side_name + " '" + spec.name + "' is not an " + side_name +
                              " of the ONNX model (the model's " + side_name + "s: " + names_of(model) + ")");
    }
  }
  for (const auto& info : model) {
    const auto dtype = datatype_from_onnx(info.elem_type);
    if (!dtype) {
      return invalid_argument("ONNX model " + side_name + " '" + info.name + "' has element type " +
                              elem_type_name(info.elem_type) + ", which Quiver does not support");
    }
    TensorSpec spec{info.name, *dtype, info.shape};
    const TensorSpec* given = find_spec(declared, info.name);
    if (given && given->dtype != spec.dtype) {
      return invalid_argument("declared " + side_name + " '" + info.name + "' is " +
                              std::string(datatype_name(given->dtype)) + " but the ONNX model has " +
                              std::string(datatype_name(spec.dtype)));
    }
    if (!info.has_shape) {
      if (given) {
        spec.shape = given->shape;
      } else if (shape_required) {
        return invalid_argument("ONNX model " + side_name + " '" + info.name +
                                "' has no shape in the model; declare its shape at registration");
      }
    } else if (given) {
      bool conflict = given->shape.size() != spec.shape.size();
      for (size_t i = 0; !conflict && i < spec.shape.size(); ++i) {
        conflict = given->shape[i] >= 0 && spec.shape[i] >= 0 && given->shape[i] != spec.shape[i];
      }
      if (conflict) {
        return invalid_argument("declared " + side_name + " '" + info.name + "' has shape " +
                                shape_to_string(given->shape) + " but the ONNX model has " +
                                shape_to_string(spec.shape));
      }
    }
    out.push_back(std::move(spec));
  }
  return Status::ok();
}

}  // namespace

Result<OnnxGraphIo> parse_onnx_graph_io(std::span<const std::byte> model_bytes) {
  if (model_bytes.empty()) return malformed("the file is empty");
  WireReader reader(model_bytes, "ModelProto");
  std::span<const std::byte> graph;
  bool has_graph = false;
  Field f;
  while (!reader.done()) {
    QUIVER_RETURN_IF_ERROR(reader.next(f));
    if (f.number != kModelGraph) continue;
    QUIVER_RETURN_IF_ERROR(reader.expect(f, kLengthDelimited));
    graph = f.bytes;
    has_graph = true;
  }
  if (!has_graph) return malformed("it has no graph");
  OnnxGraphIo io;
  QUIVER_RETURN_IF_ERROR(parse_graph(graph, io));
  if (io.outputs.empty()) return malformed("its graph has no outputs");
  return io;
}

std::optional<DataType> datatype_from_onnx(int32_t elem_type) {
  switch (elem_type) {
    case 1: return DataType::kFp32;
    case 2: return DataType::kUint8;
    case 3: return DataType::kInt8;
    case 4: return DataType::kUint16;
    case 5: return DataType::kInt16;
    case 6: return DataType::kInt32;
    case 7: return DataType::kInt64;
    case 9: return DataType::kBool;
    case 10: return DataType::kFp16;
    case 11: return DataType::kFp64;
    case 12: return DataType::kUint32;
    case 13: return DataType::kUint64;
    default: return std::nullopt;  // 0 UNDEFINED, 8 STRING, 14/15 COMPLEX, 16 BFLOAT16
  }
}

Result<ModelSignature> effective_onnx_signature(const OnnxGraphIo& model, const ModelSignature& declared) {
  ModelSignature signature;
  QUIVER_RETURN_IF_ERROR(effective_specs(model.inputs, declared.inputs, "input", true, signature.inputs));
  QUIVER_RETURN_IF_ERROR(effective_specs(model.outputs, declared.outputs, "output", false, signature.outputs));
  return signature;
}

}  // namespace quiver::backends::onnx
