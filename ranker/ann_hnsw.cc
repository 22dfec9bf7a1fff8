// ann_hnsw: the rank_ann ops (ann.h) over Debian's hnswlib 0.6.2, the only
// C++ in Snipwise. Every entry point catches every exception and returns an
// sw_err, so no exception ever crosses into C.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <hnswlib/hnswlib.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

extern "C" {
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ranker/ann.h"
}

namespace
{

constexpr size_t kDimMax = 65536;
constexpr size_t kMMax = 512;

// The inner-product distance (1 - q.v) on AVX2 with fused multiply-adds,
// 16 floats a step in two accumulators: the SSE one hnswlib picks when
// built without -mavx (as Debian builds us) does 4 a step, and distances
// are most of a Suggest's search (k = ef = 500 at 100k snippets).
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) float
ip_distance_avx2(const void *a, const void *b, const void *param)
{
    const float *x = (const float *)a, *y = (const float *)b;
    size_t dim = *(const size_t *)param, i = 0;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    float lanes[8], sum = 0.0f;

    for (; i + 16 <= dim; i += 16) {
        s0 =
            _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8),
                             _mm256_loadu_ps(y + i + 8), s1);
    }
    _mm256_storeu_ps(lanes, _mm256_add_ps(s0, s1));
    for (int l = 0; l < 8; l++)
        sum += lanes[l];
    for (; i < dim; i++)
        sum += x[i] * y[i];
    return 1.0f - sum;
}
#endif

// SwIpSpace is hnswlib's inner-product space with ip_distance_avx2 when
// the CPU has AVX2 and FMA (checked once, at run time: the package runs
// on CPUs without them, which keep hnswlib's own function).
class SwIpSpace : public hnswlib::InnerProductSpace
{
  public:
    explicit SwIpSpace(size_t dim) : hnswlib::InnerProductSpace(dim)
    {
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            fast_ = ip_distance_avx2;
#endif
    }

    hnswlib::DISTFUNC<float> get_dist_func() override
    {
        return fast_ ? fast_ : hnswlib::InnerProductSpace::get_dist_func();
    }

  private:
    hnswlib::DISTFUNC<float> fast_ = nullptr;
};

// The header saveIndex writes, as hnsw_header_read finds it.
struct HnswHeader {
    size_t off0, maxel, count, sdpe, loff, doff, maxm, maxm0, m, efc;
    int maxlevel;
    hnswlib::tableint ep;
    double mult;
};

constexpr size_t kHeaderLen = 9 * sizeof(size_t) + sizeof(int) +
                              sizeof(hnswlib::tableint) + sizeof(double) +
                              sizeof(size_t);

// hnsw_header_read parses the kHeaderLen bytes at p of an image of n bytes
// and checks them against dim before hnswlib reads it: hnswlib's own check
// only covers the file length, and its loader would size allocations from
// whatever the header says.
bool hnsw_header_read(const char *p, size_t n, size_t dim, HnswHeader *hd)
{
    if (n < kHeaderLen)
        return false;
    std::memcpy(&hd->off0, p, 8);
    std::memcpy(&hd->maxel, p + 8, 8);
    std::memcpy(&hd->count, p + 16, 8);
    std::memcpy(&hd->sdpe, p + 24, 8);
    std::memcpy(&hd->loff, p + 32, 8);
    std::memcpy(&hd->doff, p + 40, 8);
    std::memcpy(&hd->maxlevel, p + 48, sizeof(int));
    std::memcpy(&hd->ep, p + 52, sizeof(hd->ep));
    std::memcpy(&hd->maxm, p + 56, 8);
    std::memcpy(&hd->maxm0, p + 64, 8);
    std::memcpy(&hd->m, p + 72, 8);
    std::memcpy(&hd->mult, p + 80, 8);
    std::memcpy(&hd->efc, p + 88, 8);
    size_t l0 = hd->maxm0 * sizeof(hnswlib::tableint) + sizeof(unsigned int);
    if (hd->off0 != 0 || hd->m < 2 || hd->m > kMMax || hd->maxm != hd->m ||
        hd->maxm0 != 2 * hd->m)
        return false;
    if (hd->doff != l0 || hd->loff != l0 + dim * sizeof(float) ||
        hd->sdpe != hd->loff + sizeof(hnswlib::labeltype))
        return false;
    if (hd->count > hd->maxel || hd->count > (n - kHeaderLen) / hd->sdpe ||
        hd->maxel > SIZE_MAX / hd->sdpe)
        return false;
    if (hd->count > 0 &&
        (hd->ep >= hd->count || hd->maxlevel < 0 || hd->maxlevel > 64))
        return false;
    return true;
}

// hnsw_hugepages asks for transparent huge pages over the whole pages of
// [p, p + n), before they are first touched; only advice (a kernel without
// them, or set to never, ignores it).
void hnsw_hugepages(void *p, size_t n)
{
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);

    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

// Pieces reads an image given as pieces in order (ann.h's rank_piece) at
// any offset, as if it were one array. Its reads are const, so threads may
// share one.
class Pieces
{
  public:
    Pieces(const struct rank_piece *pc, size_t n) : pc_(pc), ok_(true)
    {
        size_t off = 0;

        starts_.reserve(n);
        for (size_t i = 0; i < n; i++) {
            if (pc[i].n > SIZE_MAX - off)
                ok_ = false;
            starts_.push_back(off);
            off += pc[i].n;
        }
        total_ = off;
    }

    bool ok() const
    {
        return ok_;
    }

    size_t size() const
    {
        return total_;
    }

    // copy copies len bytes from pos to dst; false (nothing promised of
    // dst) when they run past the end. *hint is the piece to try first,
    // and is left at the piece the copy ended in, so that reading on is
    // cheap.
    bool copy(size_t pos, void *dst, size_t len, size_t *hint) const
    {
        char *d = (char *)dst;
        size_t i = *hint;

        if (pos > total_ || len > total_ - pos)
            return false;
        if (len == 0)
            return true;
        if (i >= starts_.size() || starts_[i] > pos ||
            pos - starts_[i] >= pc_[i].n)
            i = (size_t)(std::upper_bound(starts_.begin(), starts_.end(), pos) -
                         starts_.begin()) -
                1;
        while (len > 0) {
            size_t off = pos - starts_[i];
            size_t take = pc_[i].n - off < len ? pc_[i].n - off : len;
            if (take > 0)
                std::memcpy(d, (const char *)pc_[i].p + off, take);
            d += take;
            pos += take;
            len -= take;
            if (len > 0)
                i++;
        }
        *hint = i;
        return true;
    }

  private:
    const struct rank_piece *pc_;
    std::vector<size_t> starts_;
    size_t total_;
    bool ok_;
};

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

    // The block fill allocated for the upper layers of the elements it
    // loaded (hnswlib mallocs one per element); ~SwHnsw frees it.
    ~SwHnsw()
    {
        uintptr_t lo = (uintptr_t)links_, hi = lo + links_n_;

        if (links_ == nullptr)
            return;
        // hnswlib's destructor frees each element's upper layers: keep it
        // off those inside the block (elements added later have their own).
        for (size_t i = 0; i < cur_element_count; i++)
            if (element_levels_[i] > 0 && (uintptr_t)linkLists_[i] >= lo &&
                (uintptr_t)linkLists_[i] < hi)
                element_levels_[i] = 0;
        free(links_);
    }

    // fill loads the image img with header hd (checked by
    // hnsw_header_read) into this index, made by the first constructor with
    // hd's m and capacity for hd.count: level 0 is copied straight into
    // data_level0_memory_ by up to threads threads, the upper layers into
    // one block. It leaves the index as hnswlib's loadIndex would. false:
    // the image is not what saveIndex writes (the index stays empty).
    bool fill(const Pieces &img, const HnswHeader &hd, unsigned threads)
    {
        size_t l0 = hd.count * size_data_per_element_;
        size_t pos = kHeaderLen + l0, hint = 0, upper = 0, off = 0, i;
        unsigned int sz;

        // First pass: each element's level, the upper layers' size, and
        // that the image ends where the last element's links do.
        for (i = 0; i < hd.count; i++) {
            if (!img.copy(pos, &sz, sizeof(sz), &hint))
                return false;
            pos += sizeof(sz);
            if (sz % size_links_per_element_ != 0 ||
                sz / size_links_per_element_ > (size_t)hd.maxlevel ||
                sz > img.size() - pos)
                return false;
            element_levels_[i] = (int)(sz / size_links_per_element_);
            pos += sz;
            upper += sz;
        }
        if (pos != img.size())
            return false;
        // Searches start at the entry point on its top level.
        if (hd.count > 0 && element_levels_[hd.ep] != hd.maxlevel)
            return false;
        // Level 0, in slices on other threads while this one copies the
        // upper layers. Huge pages spare most of the page faults of a
        // block this size.
        hnsw_hugepages(data_level0_memory_, l0);
        std::vector<std::thread> pool;
        unsigned nt = threads < 1 ? 1 : threads > 8 ? 8 : threads;
        size_t slice = (l0 + nt - 1) / nt;
        auto part = [&](size_t from) {
            size_t h = 0, n = l0 - from < slice ? l0 - from : slice;
            (void)img.copy(kHeaderLen + from, data_level0_memory_ + from, n,
                           &h);
        };
        try {
            for (size_t from = slice; nt > 1 && from < l0; from += slice)
                pool.emplace_back(part, from);
        } catch (const std::exception &) {
            // No more threads (std::system_error, bad_alloc): copy here.
            for (auto &t : pool)
                t.join();
            pool.clear();
            slice = l0;
        }
        if (l0 > 0)
            part(0);
        links_n_ = upper;
        links_ = (char *)malloc(upper > 0 ? upper : 1);
        if (links_ == nullptr) {
            for (auto &t : pool)
                t.join();
            throw std::bad_alloc();
        }
        pos = kHeaderLen + l0;
        hint = 0;
        for (i = 0; i < hd.count; i++) {
            (void)img.copy(pos, &sz, sizeof(sz), &hint);
            pos += sizeof(sz);
            if (sz == 0) {
                linkLists_[i] = nullptr;
                continue;
            }
            linkLists_[i] = links_ + off;
            (void)img.copy(pos, linkLists_[i], sz, &hint);
            pos += sz;
            off += sz;
        }
        for (auto &t : pool)
            t.join();
        label_lookup_.reserve(hd.count);
        for (i = 0; i < hd.count; i++) {
            label_lookup_[getExternalLabel((hnswlib::tableint)i)] =
                (hnswlib::tableint)i;
            if (isMarkedDeleted((hnswlib::tableint)i))
                num_deleted_++;
        }
        cur_element_count = hd.count;
        // An empty index saves no entry point (hnswlib's -1 for both).
        maxlevel_ = hd.count > 0 ? hd.maxlevel : -1;
        enterpoint_node_ = hd.count > 0 ? hd.ep : (hnswlib::tableint)-1;
        mult_ = hd.mult;
        revSize_ = 1.0 / mult_;
        ef_construction_ = hd.efc;
        // loadIndex leaves the level generators as default-constructed:
        // so must this, for later additions to build the same graph.
        level_generator_ = std::default_random_engine();
        update_probability_generator_ = std::default_random_engine();
        return true;
    }

    void search(const void *q, size_t k, size_t ef, uint64_t *labels,
                float *dists, size_t *n) const
    {
        *n = 0;
        if (cur_element_count == 0)
            return;
        size_t beam = ef < k ? k : ef;
        if (cur_element_count <= beam || cur_element_count <= kExactMax) {
            exact(q, k, labels, dists, n);
            return;
        }
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
        std::priority_queue<std::pair<float, hnswlib::tableint>,
                            std::vector<std::pair<float, hnswlib::tableint>>,
                            CompareByFirst>
            top = num_deleted_ ? layer0<true>(cur, q, beam)
                               : layer0<false>(cur, q, beam);
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

    using Queue =
        std::priority_queue<std::pair<float, hnswlib::tableint>,
                            std::vector<std::pair<float, hnswlib::tableint>>,
                            CompareByFirst>;

    // layer0 is hnswlib's searchBaseLayerST (0.6.2) without its shared
    // metric counters (an atomic add per hop, on a line every concurrent
    // search writes) and with the whole vector of each unvisited neighbour
    // prefetched before the first distance: hnswlib prefetches only the
    // first 64 bytes of the next one, and a search that reads thousands of
    // 1.5 KB vectors at random waits on memory one line at a time. The
    // visiting order, the distances and so the result are hnswlib's.
    template <bool has_deletions>
    Queue layer0(hnswlib::tableint ep_id, const void *q, size_t ef) const
    {
        hnswlib::VisitedList *vl = visited_list_pool_->getFreeVisitedList();
        hnswlib::vl_type *visited = vl->mass;
        hnswlib::vl_type tag = vl->curV;
        Queue top, cand;
        float lower;

        if (!has_deletions || !isMarkedDeleted(ep_id)) {
            float d =
                fstdistfunc_(q, getDataByInternalId(ep_id), dist_func_param_);
            lower = d;
            top.emplace(d, ep_id);
            cand.emplace(-d, ep_id);
        } else {
            lower = std::numeric_limits<float>::max();
            cand.emplace(-lower, ep_id);
        }
        visited[ep_id] = tag;
        while (!cand.empty()) {
            std::pair<float, hnswlib::tableint> cur = cand.top();
            if (-cur.first > lower && (top.size() == ef || !has_deletions))
                break;
            cand.pop();
            int *data = (int *)get_linklist0(cur.second);
            size_t size = getListCount((hnswlib::linklistsizeint *)data);
            for (size_t j = 1; j <= size; j++) {
                if (visited[data[j]] == tag)
                    continue;
                const char *v = getDataByInternalId(data[j]);
                for (size_t off = 0; off < data_size_; off += 64)
                    __builtin_prefetch(v + off, 0, 3);
            }
            for (size_t j = 1; j <= size; j++) {
                int id = data[j];
                if (visited[id] == tag)
                    continue;
                visited[id] = tag;
                float d =
                    fstdistfunc_(q, getDataByInternalId(id), dist_func_param_);
                if (top.size() < ef || lower > d) {
                    cand.emplace(-d, id);
                    if (!has_deletions || !isMarkedDeleted(id))
                        top.emplace(d, id);
                    if (top.size() > ef)
                        top.pop();
                    if (!top.empty())
                        lower = top.top().first;
                }
            }
        }
        visited_list_pool_->releaseVisitedList(vl);
        return top;
    }

    // An index this small is searched exactly: a beam as wide as the
    // index must return every live vector, yet HNSW's pruned links can
    // leave near-equidistant vectors (template framings that differ by a
    // word) unreachable from the entry point; scanning a thousand vectors
    // costs about a tenth of a millisecond.
    static constexpr size_t kExactMax = 1024;

    void exact(const void *q, size_t k, uint64_t *labels, float *dists,
               size_t *n) const
    {
        std::priority_queue<std::pair<float, hnswlib::tableint>> top;
        size_t count = cur_element_count;

        for (hnswlib::tableint i = 0; i < count; i++) {
            if (num_deleted_ && isMarkedDeleted(i))
                continue;
            float d = fstdistfunc_(q, getDataByInternalId(i), dist_func_param_);
            if (top.size() < k) {
                top.emplace(d, i);
            } else if (d < top.top().first) {
                top.pop();
                top.emplace(d, i);
            }
        }
        size_t m = top.size();
        for (size_t i = m; i > 0; i--) {
            labels[i - 1] = getExternalLabel(top.top().second);
            dists[i - 1] = top.top().first;
            top.pop();
        }
        *n = m;
    }

  private:
    char *links_ = nullptr; // fill's block of upper layers, or NULL
    size_t links_n_ = 0;
};

struct rank_hnsw {
    struct rank_ann base;
    SwIpSpace *space;
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
        h->space = new SwIpSpace(p->dim);
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

bool hnsw_header_ok(const struct rank_blob *b, size_t dim)
{
    HnswHeader hd;

    return hnsw_header_read((const char *)b->p, b->n, dim, &hd);
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
        h->space = new SwIpSpace(p->dim);
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

// hnsw_load_pieces is hnsw_load without the blob and hnswlib's istream: the
// image's pieces (LMDB values, mapped) are copied once, into the index.
sw_err hnsw_load_pieces(const struct rank_ann_params *p,
                        const struct rank_piece *pieces, size_t npieces,
                        unsigned threads, struct rank_ann **out)
{
    rank_hnsw *h = nullptr;
    char head[kHeaderLen];
    HnswHeader hd;
    size_t hint = 0;

    if (p->dim == 0 || p->dim > kDimMax)
        return SW_EINVAL;
    try {
        Pieces img(pieces, npieces);
        if (!img.ok() || !img.copy(0, head, sizeof(head), &hint) ||
            !hnsw_header_read(head, img.size(), p->dim, &hd))
            return SW_ECORRUPT;
        // Capacity as loadIndex sets it: p's, unless below the count.
        size_t max = p->max_elements < hd.count ? hd.maxel : p->max_elements;
        h = hnsw_alloc(p->dim);
        if (h == nullptr)
            return SW_ENOMEM;
        h->space = new SwIpSpace(p->dim);
        h->idx = new SwHnsw(h->space, max > 0 ? max : 1, hd.m, hd.efc, 100);
        if (!h->idx->fill(img, hd, threads)) {
            hnsw_free(h);
            return SW_ECORRUPT;
        }
    } catch (const std::bad_alloc &) {
        hnsw_free(h);
        return SW_ENOMEM;
    } catch (const std::exception &e) {
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
    "hnsw",       hnsw_create,   hnsw_add,     hnsw_mark_deleted,
    hnsw_search,  hnsw_resize,   hnsw_save,    hnsw_load,
    hnsw_count,   hnsw_capacity, hnsw_deleted, hnsw_memory,
    hnsw_destroy, hnsw_add_many, hnsw_get,     hnsw_load_pieces,
};
