// snn_readout: the on-chip readout of snncompile.readout, computed from the output beats of snn_core.
// Per sample (cleared by `start`): MODE 0 (counts) and 1 (argmax) add every output beat's value to score[n];
// MODE 2 (max-v) keeps the largest value of each neuron over the timesteps, where a neuron that sent no beat in a
// step (snn_core sends only non-zero outputs) had the value 0 in it. A `finish` pulse after the sample's last
// step sends the N scores (res_index 0..N-1, one per cycle), then, for MODE 1 and 2, the class (res_index N):
// the smallest n with the largest score (a later n replaces the best only when strictly larger).
// res_last marks the last word. Scores are SW-bit signed; the exporter proves they fit.
`default_nettype none
module snn_readout #(
    parameter N = 10,          // neurons read (the Output node's size)
    parameter OFFSET = 0,      // the Output node's first address on snn_core's output port
    parameter AW = 4,          // width of out_addr
    parameter VW = 8,          // width of out_value (signed)
    parameter SW = 32,         // width of a score (signed)
    parameter IW = 5,          // width of res_index (holds N)
    parameter MODE = 0         // 0 counts, 1 argmax, 2 max-v
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 start,
    input  wire                 beat,       // an output beat of snn_core this cycle (out_valid && out_ready)
    input  wire                 eot,        // ... and it is the step's out_eot beat
    input  wire [AW-1:0]        addr,
    input  wire signed [VW-1:0] value,
    input  wire                 finish,
    output reg                  res_valid,
    output reg  [IW-1:0]        res_index,
    output reg  signed [SW-1:0] res_value,
    output reg                  res_last,
    output wire                 busy
);
    localparam signed [SW-1:0] LOWEST = {1'b1, {(SW - 1){1'b0}}};
    reg signed [SW-1:0] score [0:N-1];
    reg [N-1:0] sent, zero_seen;
    reg any_step, scanning;
    reg [IW-1:0] k, best;
    reg signed [SW-1:0] best_v;
    wire hit = beat && !eot && addr >= OFFSET && addr < OFFSET + N;
    wire [AW-1:0] local_addr = addr - OFFSET;
    wire signed [SW-1:0] v = {{(SW - VW){value[VW-1]}}, value};
    wire [IW-1:0] kk = (k < N) ? k : {IW{1'b0}};  // k == N is the class beat: no score read
    wire signed [SW-1:0] cur = score[kk];
    // max-v: a neuron that had a step without a beat (value 0), or a sample of no steps, scores at least 0
    wire signed [SW-1:0] fin = (MODE == 2 && (zero_seen[kk] || !any_step) && cur < 0) ? {SW{1'b0}} : cur;
    assign busy = scanning;
    integer j;

    always @(posedge clk) begin
        res_valid <= 1'b0;
        res_last <= 1'b0;
        if (rst) begin
            scanning <= 1'b0;
        end else if (start) begin
            for (j = 0; j < N; j = j + 1) score[j] <= (MODE == 2) ? LOWEST : {SW{1'b0}};
            sent <= {N{1'b0}};
            zero_seen <= {N{1'b0}};
            any_step <= 1'b0;
            scanning <= 1'b0;
        end else if (finish && !scanning) begin
            scanning <= 1'b1;
            k <= {IW{1'b0}};
        end else if (scanning) begin
            res_valid <= 1'b1;
            if (k < N) begin
                res_index <= k;
                res_value <= fin;
                if (k == 0 || fin > best_v) begin
                    best <= k;
                    best_v <= fin;
                end
                if (MODE == 0 && k == N - 1) begin
                    res_last <= 1'b1;
                    scanning <= 1'b0;
                end
                k <= k + 1'b1;
            end else begin
                res_index <= k;
                res_value <= {{(SW - IW){1'b0}}, best};
                res_last <= 1'b1;
                scanning <= 1'b0;
            end
        end else begin
            if (hit) begin
                sent[local_addr] <= 1'b1;
                if (MODE == 2) begin
                    if (v > score[local_addr]) score[local_addr] <= v;
                end else begin
                    score[local_addr] <= score[local_addr] + v;
                end
            end
            if (beat && eot) begin
                zero_seen <= zero_seen | ~sent;
                sent <= {N{1'b0}};
                any_step <= 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
