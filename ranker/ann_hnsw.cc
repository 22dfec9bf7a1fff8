// ann_hnsw: the rank_ann ops (ann.h) over Debian's hnswlib 0.6.2, the only
// C++ in Snipwise. Every entry point catches every exception and returns an
// sw_err, so no exception ever crosses into C.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <hnswlib/hnswlib.h>

extern "C" {
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ranker/ann.h"
}

namespace
{

constexpr size_t kDimMax = 65536;
constexpr size_t kMMax = 512;

// SwHnsw adds what the C API needs on top of hnswlib: a search whose beam
// is a parameter (hnswlib keeps ef_ as shared state, which would make
// concurrent searches with different ef race) and safe construction for
// loading.
class SwHnsw : public hnswlib::HierarchicalNSW<float>
{
  public:
    SwHnsw(hnswlib::SpaceInterface<float> *s, size_t max, size_t m, size_t efc,
           size_t seed)
        : hnswlib::HierarchicalNSW<float>(s, max, m, efc, seed)
    {
        metric_distance_computations = 0;
        metric_hops = 0;
    }

    // For loadIndex: hnswlib's loading constructor leaves fields unset that
    // its destructor and loader read, so set them first.
    explicit SwHnsw(hnswlib::SpaceInterface<float> *s)
        : hnswlib::HierarchicalNSW<float>(s)
    {
        num_deleted_ = 0;
        cur_element_count = 0;
        data_level0_memory_ = nullptr;
        linkLists_ = nullptr;
        visited_list_pool_ = nullptr;
        metric_distance_computations = 0;
        metric_hops = 0;
    }

    void search(const void *q, size_t k, size_t ef, uint64_t *labels,
                float *dists, size_t *n) const
    {
        *n = 0;
        if (cur_element_count == 0)
            return;
        hnswlib::tableint cur = enterpoint_node_;
        float curdist =
            fstdistfunc_(q, getDataByInternalId(cur), dist_func_param_);
        for (int level = maxlevel_; level > 0; level--) {
            bool changed = true;
            while (changed) {
                changed = false;
                unsigned int *data = (unsigned int *)get_linklist(cur, level);
                int size = getListCount(data);
                hnswlib::tableint *datal = (hnswlib::tableint *)(data + 1);
                for (int i = 0; i < size; i++) {
                    hnswlib::tableint cand = datal[i];
                    if (cand > max_elements_)
                        throw std::runtime_error("cand error");
                    float d = fstdistfunc_(q, getDataByInternalId(cand),
                                           dist_func_param_);
                    if (d < curdist) {
                        curdist = d;
                        cur = cand;
                        changed = true;
                    }
                }
            }
        }
        size_t beam = ef < k ? k : ef;
        std::priority_queue<std::pair<float, hnswlib::tableint>,
                            std::vector<std::pair<float, hnswlib::tableint>>,
                            CompareByFirst>
            top = num_deleted_ ? searchBaseLayerST<true, true>(cur, q, beam)
                               : searchBaseLayerST<false, true>(cur, q, beam);
        while (top.size() > k)
            top.pop();
        size_t m = top.size();
        for (size_t i = m; i > 0; i--) {
            labels[i - 1] = getExternalLabel(top.top().second);
            dists[i - 1] = top.top().first;
            top.pop();
        }
        *n = m;
    }
};

struct rank_hnsw {
    struct rank_ann base;
    hnswlib::InnerProductSpace *space;
    SwHnsw *idx;
    size_t dim;
};

rank_hnsw *of(const struct rank_ann *a)
{
    return (rank_hnsw *)a;
}

void hnsw_free(rank_hnsw *h)
{
    if (h == nullptr)
        return;
    delete h->idx;
    delete h->space;
    h->~rank_hnsw();
    sw_free(h);
}

rank_hnsw *hnsw_alloc(size_t dim)
{
    void *p = sw_calloc(1, sizeof(rank_hnsw));
    if (p == nullptr)
        return nullptr;
    rank_hnsw *h = new (p) rank_hnsw();
    h->base.ops = &rank_ann_hnsw;
    h->dim = dim;
    return h;
}

sw_err hnsw_fail(const char *what, const std::exception &e)
{
    sw_log_error("rank.hnsw_error", "op=%s what=%s", what, e.what());
    return SW_EINTERNAL;
}

sw_err hnsw_create(const struct rank_ann_params *p, struct rank_ann **out)
{
    rank_hnsw *h = nullptr;

    if (p->dim == 0 || p->dim > kDimMax || p->m < 2 || p->m > kMMax)
        return SW_EINVAL;
    try {
        h = hnsw_alloc(p->dim);
        if (h == nullptr)
            return SW_ENOMEM;
        h->space = new hnswlib::InnerProductSpace(p->dim);
        h->idx = new SwHnsw(h->space, p->max_elements ? p->max_elements : 1,
                            p->m, p->ef_construction, p->seed);
    } catch (const std::bad_alloc &) {
        hnsw_free(h);
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        hnsw_free(h);
        return hnsw_fail("create", e);
    }
    *out = &h->base;
    return SW_OK;
}

sw_err hnsw_add(struct rank_ann *a, uint64_t label, const float *vec)
{
    rank_hnsw *h = of(a);

    try {
        SwHnsw *x = h->idx;
        if (x->label_lookup_.find(label) == x->label_lookup_.end() &&
            x->cur_element_count >= x->max_elements_)
            return SW_ERANGE;
        x->addPoint(vec, label);
    } catch (const std::bad_alloc &) {
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        return hnsw_fail("add", e);
    }
    return SW_OK;
}

// hnsw_add_many inserts with several threads at once: hnswlib's addPoint
// takes per-node locks and may run concurrently for distinct labels (its
// Python module's add_items does the same). An exception on a worker
// thread is caught there and becomes the result; the others stop at their
// next item.
sw_err hnsw_add_many(struct rank_ann *a, const uint64_t *labels,
                     const float *const *vecs, size_t n, unsigned threads)
{
    rank_hnsw *h = of(a);
    SwHnsw *x = h->idx;
    std::atomic<size_t> next{0};
    std::atomic<int> err{SW_OK};
    size_t fresh = 0, i;

    for (i = 0; i < n; i++)
        fresh += x->label_lookup_.find(labels[i]) == x->label_lookup_.end();
    if (x->cur_element_count + fresh > x->max_elements_)
        return SW_ERANGE;
    auto work = [&]() {
        for (;;) {
            size_t j = next.fetch_add(1);
            if (j >= n || err.load() != SW_OK)
                return;
            try {
                x->addPoint(vecs[j], labels[j]);
            } catch (const std::bad_alloc &) {
                err.store(SW_ENOMEM);
            } catch (const std::exception &e) {
                err.store(hnsw_fail("add", e));
            }
        }
    };
    std::vector<std::thread> pool;
    if (n >= RANK_ANN_PAR_MIN) {
        try {
            for (unsigned t = 1; t < threads && t < 16; t++)
                pool.emplace_back(work);
        } catch (const std::exception &) {
            // No more threads (std::system_error, bad_alloc): fewer do it.
        }
    }
    work();
    for (auto &t : pool)
        t.join();
    return (sw_err)err.load();
}

sw_err hnsw_mark_deleted(struct rank_ann *a, uint64_t label)
{
    rank_hnsw *h = of(a);

    try {
        SwHnsw *x = h->idx;
        auto it = x->label_lookup_.find(label);
        if (it == x->label_lookup_.end())
            return SW_ENOTFOUND;
        if (!x->isMarkedDeleted(it->second))
            x->markDelete(label);
    } catch (const std::exception &e) {
        return hnsw_fail("mark_deleted", e);
    }
    return SW_OK;
}

sw_err hnsw_search(const struct rank_ann *a, const float *q, size_t k,
                   size_t ef, uint64_t *labels, float *dists, size_t *n)
{
    const rank_hnsw *h = of(a);

    if (k == 0)
        return SW_EINVAL;
    try {
        h->idx->search(q, k, ef, labels, dists, n);
    } catch (const std::bad_alloc &) {
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        return hnsw_fail("search", e);
    }
    return SW_OK;
}

sw_err hnsw_resize(struct rank_ann *a, size_t max)
{
    rank_hnsw *h = of(a);

    if (max < h->idx->cur_element_count || max == 0)
        return SW_EINVAL;
    try {
        h->idx->resizeIndex(max);
    } catch (const std::bad_alloc &) {
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        return hnsw_fail("resize", e);
    }
    return SW_OK;
}

std::string fd_path(int fd)
{
    return "/proc/self/fd/" + std::to_string(fd);
}

sw_err hnsw_save(const struct rank_ann *a, struct rank_blob *out)
{
    const rank_hnsw *h = of(a);
    struct rank_blob b = RANK_BLOB_INIT;
    sw_err rc;

    rc = rank_blob_create(0, &b);
    if (rc)
        return rc;
    try {
        h->idx->saveIndex(fd_path(b.fd));
    } catch (const std::bad_alloc &) {
        rank_blob_free(&b);
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        rank_blob_free(&b);
        return hnsw_fail("save", e);
    }
    // saveIndex opened the file anew and wrote it; map what it wrote.
    int fd = b.fd;
    b.fd = -1;
    rank_blob_free(&b);
    return rank_blob_from_fd(fd, out);
}

// hnsw_header_ok checks the saved header against dim before hnswlib reads
// it: hnswlib's own check only covers the file length, and its loader
// would size allocations from whatever the header says.
bool hnsw_header_ok(const struct rank_blob *b, size_t dim)
{
    const char *p = (const char *)b->p;
    size_t off0, maxel, count, sdpe, loff, doff, maxm, maxm0, m, efc;
    int maxlevel;
    hnswlib::tableint ep;
    double mult;
    size_t need = 9 * sizeof(size_t) + sizeof(int) + sizeof(hnswlib::tableint) +
                  sizeof(double) + sizeof(size_t);

    if (b->n < need)
        return false;
    std::memcpy(&off0, p, 8);
    std::memcpy(&maxel, p + 8, 8);
    std::memcpy(&count, p + 16, 8);
    std::memcpy(&sdpe, p + 24, 8);
    std::memcpy(&loff, p + 32, 8);
    std::memcpy(&doff, p + 40, 8);
    std::memcpy(&maxlevel, p + 48, sizeof(int));
    std::memcpy(&ep, p + 52, sizeof(ep));
    std::memcpy(&maxm, p + 56, 8);
    std::memcpy(&maxm0, p + 64, 8);
    std::memcpy(&m, p + 72, 8);
    std::memcpy(&mult, p + 80, 8);
    std::memcpy(&efc, p + 88, 8);
    (void)mult;
    (void)efc;
    size_t l0 = maxm0 * sizeof(hnswlib::tableint) + sizeof(unsigned int);
    if (off0 != 0 || m < 2 || m > kMMax || maxm != m || maxm0 != 2 * m)
        return false;
    if (doff != l0 || loff != l0 + dim * sizeof(float) ||
        sdpe != loff + sizeof(hnswlib::labeltype))
        return false;
    if (count > maxel || count > (b->n - need) / sdpe)
        return false;
    if (count > 0 && (ep >= count || maxlevel < 0 || maxlevel > 64))
        return false;
    return true;
}

sw_err hnsw_load(const struct rank_ann_params *p, const struct rank_blob *b,
                 struct rank_ann **out)
{
    rank_hnsw *h = nullptr;

    if (p->dim == 0 || p->dim > kDimMax)
        return SW_EINVAL;
    if (!hnsw_header_ok(b, p->dim))
        return SW_ECORRUPT;
    try {
        h = hnsw_alloc(p->dim);
        if (h == nullptr)
            return SW_ENOMEM;
        h->space = new hnswlib::InnerProductSpace(p->dim);
        h->idx = new SwHnsw(h->space);
        h->idx->loadIndex(fd_path(b->fd), h->space, p->max_elements);
    } catch (const std::bad_alloc &) {
        if (h && h->idx &&
            h->idx->element_levels_.size() < h->idx->cur_element_count)
            h->idx->cur_element_count = 0;
        hnsw_free(h);
        return SW_ENOMEM;
    } catch (const std::exception &e) {
        if (h && h->idx &&
            h->idx->element_levels_.size() < h->idx->cur_element_count)
            h->idx->cur_element_count = 0;
        hnsw_free(h);
        sw_log_error("rank.hnsw_load", "what=%s", e.what());
        return SW_ECORRUPT;
    }
    *out = &h->base;
    return SW_OK;
}

// hnsw_get copies a live label's vector; it reads the node's data in
// place, as a search does (hnswlib's getDataByLabel would build a vector).
sw_err hnsw_get(const struct rank_ann *a, uint64_t label, float *out)
{
    const rank_hnsw *h = of(a);

    try {
        const SwHnsw *x = h->idx;
        auto it = x->label_lookup_.find(label);
        if (it == x->label_lookup_.end() || x->isMarkedDeleted(it->second))
            return SW_ENOTFOUND;
        std::memcpy(out, x->getDataByInternalId(it->second),
                    h->dim * sizeof(float));
    } catch (const std::exception &e) {
        return hnsw_fail("get", e);
    }
    return SW_OK;
}

size_t hnsw_count(const struct rank_ann *a)
{
    return of(a)->idx->cur_element_count;
}

size_t hnsw_capacity(const struct rank_ann *a)
{
    return of(a)->idx->max_elements_;
}

size_t hnsw_deleted(const struct rank_ann *a)
{
    return of(a)->idx->num_deleted_;
}

size_t hnsw_memory(const struct rank_ann *a)
{
    const SwHnsw *x = of(a)->idx;
    size_t upper = 0;

    for (size_t i = 0; i < x->cur_element_count; i++)
        if (x->element_levels_[i] > 0)
            upper += x->size_links_per_element_ * x->element_levels_[i];
    // level 0 block, upper layers, per-element locks and levels, and the
    // label map (about 32 bytes a node in libstdc++'s unordered_map).
    return x->max_elements_ * (x->size_data_per_element_ + sizeof(void *) +
                               sizeof(std::mutex) + sizeof(int)) +
           upper + x->cur_element_count * 32;
}

void hnsw_destroy(struct rank_ann **a)
{
    if (a == nullptr || *a == nullptr)
        return;
    hnsw_free(of(*a));
    *a = nullptr;
}

} // namespace

extern "C" const struct rank_ann_ops rank_ann_hnsw = {
    "hnsw",       hnsw_create, hnsw_add,     hnsw_mark_deleted, hnsw_search,
    hnsw_resize,  hnsw_save,   hnsw_load,    hnsw_count,        hnsw_capacity,
    hnsw_deleted, hnsw_memory, hnsw_destroy, hnsw_add_many,     hnsw_get,
};
