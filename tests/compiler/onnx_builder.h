// A tiny ONNX graph builder for compiler tests: writes the decomposed subgraphs exporters emit
// (LayerNorm from ReduceMean/Sub/Pow/..., GELU from Erf, attention from MatMul/Softmax) as real
// ONNX files, so the tests exercise import, lowering and the passes exactly as a model would.
#pragma once

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "onnx/onnx_pb.h"

namespace tern::test {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(int opset = 17) {
    m_.set_ir_version(8);
    m_.set_producer_name("tern-test");
    auto* op = m_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    g_ = m_.mutable_graph();
    g_->set_name("test");
  }

  // A graph input (float32 unless elem_type says otherwise, e.g. onnx::TensorProto::INT64 token ids).
  std::string input(const std::string& name, const std::vector<int64_t>& shape, int elem_type = onnx::TensorProto::FLOAT) {
    auto* vi = g_->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    for (int64_t d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    return name;
  }
  // A float32 graph output of the given rank (dims left to shape inference).
  void output(const std::string& name, int rank) {
    auto* vi = g_->add_output();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int i = 0; i < rank; ++i) tt->mutable_shape()->add_dim();
  }
  // A float32 initializer.
  std::string init(const std::vector<int64_t>& shape, const std::vector<float>& v) {
    std::string name = "c" + std::to_string(counter_++);
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    return name;
  }
  std::string scalar(float v) { return init({}, {v}); }
  std::string ints(const std::vector<int64_t>& v) {
    std::string name = "c" + std::to_string(counter_++);
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return name;
  }
  // Random values in [lo, hi), deterministic per builder.
  std::string random(const std::vector<int64_t>& shape, float lo = -1, float hi = 1) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng_);
    return init(shape, v);
  }

  struct Attr {
    std::string name;
    std::vector<int64_t> ints;
    bool is_list = false;
    float f = 0;
    bool is_float = false;
    static Attr i(const std::string& n, int64_t v) { return {n, {v}, false, 0, false}; }
    static Attr list(const std::string& n, std::vector<int64_t> v) { return {n, std::move(v), true, 0, false}; }
    static Attr fl(const std::string& n, float v) { return {n, {}, false, v, true}; }
  };
  // Adds a node; returns its (first) output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Attr>& attrs = {}, int outputs = 1) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(counter_));
    for (const auto& i : inputs) n->add_input(i);
    std::string first;
    for (int k = 0; k < outputs; ++k) {
      std::string o = "v" + std::to_string(counter_++);
      n->add_output(o);
      if (k == 0) first = o;
    }
    for (const Attr& a : attrs) {
      auto* at = n->add_attribute();
      at->set_name(a.name);
      if (a.is_float) {
        at->set_type(onnx::AttributeProto::FLOAT);
        at->set_f(a.f);
      } else if (a.is_list) {
        at->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : a.ints) at->add_ints(v);
      } else {
        at->set_type(onnx::AttributeProto::INT);
        at->set_i(a.ints[0]);
      }
    }
    return first;
  }

  // A node of Tern's custom-op domain `tern` (../shared/spec/tern_ops.py); returns its first output.
  std::string tern_node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Attr>& attrs = {},
                        int outputs = 1) {
    if (!tern_domain_) {
      auto* o = m_.add_opset_import();
      o->set_domain("tern");
      o->set_version(1);
      tern_domain_ = true;
    }
    std::string first = node(op, inputs, attrs, outputs);
    g_->mutable_node(g_->node_size() - 1)->set_domain("tern");
    return first;
  }

  // Writes the model to a file under the system's temp dir; returns the path.
  std::string save(const std::string& stem) const {
    std::string path = std::string(P_tmpdir) + "/tern_fusion_" + stem + "_" + std::to_string(::getpid()) + ".onnx";
    std::ofstream f(path, std::ios::binary);
    m_.SerializeToOstream(&f);
    return path;
  }

 private:
  onnx::ModelProto m_;
  onnx::GraphProto* g_;
  int counter_ = 0;
  bool tern_domain_ = false;
  std::mt19937 rng_{1234};
};

}  // namespace tern::test
