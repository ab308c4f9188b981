// Runs networks made by `symgrad codegen --target c` on numbers from a file, for
// tests/test_c_target.py, which writes networks.h (the table of networks) and builds this file
// with the address and undefined-behaviour sanitizers.
//
// Usage: harness NAME IN OUT
//   IN:  batch (int32), then params, X, Y and the sample weights (doubles, row-major);
//   OUT: yhat from NAME_forward, the loss from NAME_loss, then the loss and the gradient from
//        NAME_loss_and_gradients, the loss from NAME_loss_weighted, the loss and the gradient
//        from NAME_loss_and_gradients_weighted, the gradient in X from
//        NAME_input_gradient_weighted and the losses from NAME_sample_losses (doubles).
// Every buffer is allocated at exactly its size (the scratch of NAME_forward at
// NAME_FORWARD_WORK_SIZE, the others' at NAME_WORK_SIZE, each also as NAME_work_size and
// NAME_forward_work_size say), so that the address sanitizer reports any access outside it.
// Exit status: 0, 2 for bad usage or input, 3 when a function returns an error, 4 when the
// library's sizes are not the header's.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "networks.h"

static double *take(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL) {
        exit(2);
    }
    return p;
}

static void read_all(FILE *in, double *p, size_t n)
{
    if (fread(p, sizeof *p, n, in) != n) {
        exit(2);
    }
}

static void write_all(FILE *out, const double *p, size_t n)
{
    if (fwrite(p, sizeof *p, n, out) != n) {
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const struct network *net = NULL;
    if (argc != 4) {
        return 2;
    }
    for (size_t k = 0; k < sizeof networks / sizeof networks[0]; ++k) {
        if (strcmp(networks[k].name, argv[1]) == 0) {
            net = &networks[k];
        }
    }
    FILE *in = fopen(argv[2], "rb");
    if (net == NULL || in == NULL) {
        return 2;
    }
    int32_t batch = 0;
    if (fread(&batch, sizeof batch, 1, in) != 1 || batch < 1) {
        return 2;
    }
    const size_t rows = (size_t)batch;
    double *params = take(net->n_params), *X = take(rows * net->n_in);
    double *Y = take(rows * net->n_out), *yhat = take(rows * net->n_out);
    double *grad = take(net->n_params), *work = take(net->work((int)batch));
    double *forward_work = take(net->forward_work((int)batch));
    if (net->work((int)batch) != net->library_work((int)batch) ||
        net->forward_work((int)batch) != net->library_forward_work((int)batch)) {
        return 4;
    }
    double *loss = take(1), *loss_too = take(1);
    double *weights = take(rows), *weighted = take(1), *weighted_too = take(1);
    double *weighted_grad = take(net->n_params), *grad_x = take(rows * net->n_in);
    double *losses = take(rows);
    read_all(in, params, net->n_params);
    read_all(in, X, rows * net->n_in);
    read_all(in, Y, rows * net->n_out);
    read_all(in, weights, rows);
    fclose(in);
    int status = net->forward(params, X, (int)batch, yhat, forward_work);
    status |= net->loss(params, X, Y, (int)batch, loss, work);
    status |= net->loss_and_gradients(params, X, Y, (int)batch, loss_too, grad, work);
    status |= net->loss_weighted(params, X, Y, weights, (int)batch, weighted, work);
    status |= net->loss_and_gradients_weighted(params, X, Y, weights, (int)batch, weighted_too,
                                               weighted_grad, work);
    status |= net->input_gradient_weighted(params, X, Y, weights, (int)batch, grad_x, work);
    status |= net->sample_losses(params, X, Y, (int)batch, losses, work);
    if (status != 0) {
        return 3;
    }
    FILE *out = fopen(argv[3], "wb");
    if (out == NULL) {
        return 2;
    }
    write_all(out, yhat, rows * net->n_out);
    write_all(out, loss, 1);
    write_all(out, loss_too, 1);
    write_all(out, grad, net->n_params);
    write_all(out, weighted, 1);
    write_all(out, weighted_too, 1);
    write_all(out, weighted_grad, net->n_params);
    write_all(out, grad_x, rows * net->n_in);
    write_all(out, losses, rows);
    fclose(out);
    free(params);
    free(X);
    free(Y);
    free(yhat);
    free(grad);
    free(work);
    free(forward_work);
    free(loss);
    free(loss_too);
    free(weights);
    free(weighted);
    free(weighted_too);
    free(weighted_grad);
    free(grad_x);
    free(losses);
    return 0;
}
