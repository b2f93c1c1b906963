// snn_neuron: the QGraph integer neuron step, exactly as bitsim's definition, as an 11-stage pipeline
// (one neuron per cycle, no stalls; neurons are independent, so the depth costs latency only).
//
//   xs    = x << ISH
//   i     = clamp_i(decay(i, alpha) + xs)          CUBA (ADD_THEN_DECAY: clamp_i(decay(i + xs, alpha)))
//   v     = clamp_v(decay(v, beta) + drive + bias) drive = i (CUBA) or xs
//   s     = v > theta (CMP_GE: >=); MULTI: min(v div theta, CAP) where it fires
//   reset and its timing as Semantics (immediate / delayed / snntorch_immediate), on integers
//   v     = max(v, v_min) after the reset         HAS_VMIN (the lower membrane clamp, Sinabs' min_v_mem)
//   decay(y, m) = round(y*m / 2^FB): ROUND 0 toward zero, 1 floor, 2 nearest (half up);
//   ROUND 3 is the shift-subtract leak y - (y >>> k): alpha and beta then carry k (-1: no leak), and the
//   datapath has no multiplier (the product stage is a barrel shift and a subtract)
//   clamp: OV* 0 saturate to +-(2^(B-1)-1), 1 two's-complement wrap, 2 wrap_loihi (one correction by 2^B)
//
// Operands are W-bit signed; W comes from the range proof of the QGraph, so no intermediate overflows.
// r_prev is the previous step's spike output (delayed reset). sat_i / sat_v flag a clamp that changed its
// value in this step. `tag` travels with the neuron (its index and summed input, for the write-back).
`default_nettype none
module snn_neuron #(
    parameter W = 48,
    parameter FB = 12,
    parameter IB = 24,
    parameter VB = 24,
    parameter CUBA = 0,
    parameter SPIKING = 1,
    parameter ADD_THEN_DECAY = 0,
    parameter ROUND = 0,
    parameter OVI = 0,
    parameter OVV = 0,
    parameter CMP_GE = 0,
    parameter RESET = 1,          // 0 none, 1 zero, 2 subtract
    parameter TIMING = 0,         // 0 immediate, 1 delayed, 2 snntorch_immediate
    parameter DZ_STATE = 1,       // delayed reset to zero: 1 zeroes the carried state, 0 the whole new value
    parameter MULTI = 0,
    parameter CAP = 1,
    parameter CW = 1,             // width of a spike output (holds CAP)
    parameter ISH = 0,
    parameter TW = 1,             // width of the tag
    parameter HAS_VMIN = 0        // 1: clamp v from below at v_min after the reset
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 in_valid,
    input  wire [TW-1:0]        in_tag,
    input  wire signed [W-1:0]  x,
    input  wire signed [W-1:0]  v_old,
    input  wire signed [W-1:0]  i_old,
    input  wire        [CW-1:0] r_prev,
    input  wire signed [W-1:0]  alpha,
    input  wire signed [W-1:0]  beta,
    input  wire signed [W-1:0]  theta,
    input  wire signed [W-1:0]  v_reset,
    input  wire signed [W-1:0]  bias,
    input  wire signed [W-1:0]  v_min,
    output reg                  out_valid,
    output reg  [TW-1:0]        out_tag,
    output reg  signed [W-1:0]  v_new,
    output reg  signed [W-1:0]  i_new,
    output reg         [CW-1:0] s,
    output reg                  sat_i,
    output reg                  sat_v
);
    localparam LAT = 11;

    // p / 2^FB with the rounding mode; toward zero adds 2^FB - 1 to a negative p before the floor shift
    // (one carry chain instead of negate, shift, negate)
    function signed [W-1:0] round_d;
        input signed [W-1:0] p;
        reg signed [W-1:0] bump;
        begin
            bump = 1;
            bump = (bump <<< FB) - 1;
            if (ROUND == 1) round_d = p >>> FB;
            else if (ROUND == 2) round_d = (p + (1 <<< (FB - 1))) >>> FB;
            else round_d = (p + (p < 0 ? bump : $signed({W{1'b0}}))) >>> FB;
        end
    endfunction

    function signed [W-1:0] leak;      // ROUND 3: y - (y >>> k), or y where k < 0 (no leak)
        input signed [W-1:0] y;
        input signed [W-1:0] k;
        begin
            leak = (k < 0) ? y : y - (y >>> k[4:0]);
        end
    endfunction

    function signed [W-1:0] clamp;     // y into a B-bit register under policy OV
        input signed [W-1:0] y;
        input integer B;
        input integer OV;
        reg signed [W-1:0] half, full;
        begin
            half = 1;
            half = half <<< (B - 1);
            full = half <<< 1;
            if (OV == 0) clamp = (y > half - 1) ? half - 1 : ((y < 1 - half) ? 1 - half : y);
            else if (OV == 1) clamp = ((y + half) & (full - 1)) - half;
            else clamp = (y > half) ? y - full : ((y <= -half) ? y + full : y);
        end
    endfunction

    function [CW-1:0] fire;            // spikes of v against th
        input signed [W-1:0] v;
        input signed [W-1:0] th;
        reg hit;
        reg signed [W-1:0] kth;
        integer k;
        begin
            hit = CMP_GE ? (v >= th) : (v > th);
            if (!MULTI) fire = hit;
            else begin
                fire = 0;
                kth = 0;
                for (k = 1; k <= CAP; k = k + 1) begin
                    kth = kth + th;
                    if (hit && v >= kth) fire = k[CW-1:0];
                end
            end
        end
    endfunction

    function signed [W-1:0] times;     // n * y for a small spike count n (a select for binary spikes)
        input signed [W-1:0] n;
        input signed [W-1:0] y;
        begin
            if (!MULTI) times = (n == 1) ? y : ((n == -1) ? -y : {W{1'b0}});
            else times = n * y;
        end
    endfunction

    // stage registers; the parameters and the tag travel along
    reg [LAT-1:0] vld;
    reg [TW-1:0]  tag [0:LAT-1];
    reg signed [W-1:0] th [0:LAT-1];
    reg signed [W-1:0] vr [0:LAT-1];
    reg signed [W-1:0] bs [0:LAT-1];
    reg signed [W-1:0] vm [0:LAT-1];
    reg        [CW-1:0] r [0:LAT-1];
    reg signed [W-1:0] xs [0:4];
    reg signed [W-1:0] ia0, vo0, al0, be0, pi1, pv1, id2, vd2, vd3, vd4, ip3, in4, nv5, rt5, bse5, pre6, v17, v18;
    reg signed [W-1:0] v19;
    reg [CW-1:0] s8, s9;
    reg si4, si5, si6, si7, si8, si9, sv7, sv8, sv9, zt6;
    wire signed [W-1:0] r_w = r[4];
    reg  signed [W-1:0] pre9;
    // stage 10's membrane before the lower clamp: the second clamp of snntorch_immediate
    wire signed [W-1:0] vpost = (SPIKING && TIMING == 2 && RESET != 0) ? clamp(pre9, VB, OVV) : pre9;
    integer k;

    always @(posedge clk) begin
        vld <= rst ? {LAT{1'b0}} : {vld[LAT-2:0], in_valid};
        tag[0] <= in_tag;
        th[0] <= theta;
        vr[0] <= v_reset;
        bs[0] <= bias;
        vm[0] <= v_min;
        for (k = 1; k < LAT; k = k + 1) begin
            vm[k] <= vm[k-1];
            tag[k] <= tag[k-1];
            th[k] <= th[k-1];
            vr[k] <= vr[k-1];
            bs[k] <= bs[k-1];
            r[k] <= r[k-1];
        end
        // 0: shifted input, the add of add_then_decay, the reset of snntorch_immediate (from the recorded v)
        xs[0] <= x <<< ISH;
        ia0 <= ADD_THEN_DECAY ? i_old + (x <<< ISH) : i_old;
        vo0 <= v_old;
        al0 <= alpha;
        be0 <= beta;
        r[0] <= (!SPIKING || TIMING == 0) ? {CW{1'b0}} : ((TIMING == 1) ? r_prev : fire(v_old, theta));
        for (k = 1; k < 5; k = k + 1) xs[k] <= xs[k-1];
        // 1: the decay products (ROUND 3: the shift-subtract leak, no multiplier is built)
        pi1 <= (ROUND == 3) ? leak(ia0, al0) : ia0 * al0;
        pv1 <= (ROUND == 3) ? leak(vo0, be0) : vo0 * be0;
        // 2: rounding
        id2 <= (ROUND == 3) ? pi1 : round_d(pi1);
        vd2 <= (ROUND == 3) ? pv1 : round_d(pv1);
        // 3: decay_then_add adds the input to the decayed current
        ip3 <= ADD_THEN_DECAY ? id2 : id2 + xs[2];
        vd3 <= vd2;
        // 4: the current register
        in4 <= CUBA ? clamp(ip3, IB, OVI) : {W{1'b0}};
        si4 <= CUBA ? clamp(ip3, IB, OVI) != ip3 : 1'b0;
        vd4 <= vd3;
        // 5: drive + bias, the reset term of the delayed forms
        nv5 <= (CUBA ? in4 : xs[4]) + bs[4];
        rt5 <= (RESET == 2 && TIMING != 0) ? times(r_w, th[4]) : {W{1'b0}};
        bse5 <= (RESET == 1 && DZ_STATE && TIMING != 0 && r[4] != 0) ? vr[4] : vd4;
        si5 <= si4;
        // 6: the membrane sum
        pre6 <= bse5 + nv5 - rt5;
        zt6 <= RESET == 1 && !DZ_STATE && TIMING != 0 && r[5] != 0;
        si6 <= si5;
        // 7: the membrane register (delayed reset to zero of the whole new value overrides it)
        v17 <= zt6 ? vr[6] : clamp(pre6, VB, OVV);
        sv7 <= zt6 ? 1'b0 : clamp(pre6, VB, OVV) != pre6;
        si7 <= si6;
        // 8: spikes
        s8 <= SPIKING ? fire(v17, th[7]) : {CW{1'b0}};
        v18 <= v17;
        sv8 <= sv7;
        si8 <= si7;
        // 9: the reset of immediate timing, or the second reset of snntorch_immediate
        if (SPIKING && TIMING == 0)
            pre9 <= (RESET == 2) ? v18 - times($signed({{(W-CW){1'b0}}, s8}), th[8])
                  : ((RESET == 1 && s8 != 0) ? vr[8] : v18);
        else if (SPIKING && TIMING == 2 && RESET == 2)
            pre9 <= v18 - times($signed({{(W-CW){1'b0}}, s8}) - $signed({{(W-CW){1'b0}}, r[8]}), th[8]);
        else if (SPIKING && TIMING == 2 && RESET == 1)
            pre9 <= v18 - times($signed({{(W-CW){1'b0}}, s8}) - $signed({{(W-CW){1'b0}}, r[8]}), v18 - vr[8]);
        else pre9 <= v18;
        s9 <= s8;
        sv9 <= sv8;
        si9 <= si8;
        // 10: the second clamp of snntorch_immediate; outputs
        out_valid <= !rst && vld[LAT-2];
        out_tag <= tag[LAT-2];
        v_new <= (SPIKING && HAS_VMIN && vpost < vm[9]) ? vm[9] : vpost;
        sat_v <= sv9 | ((SPIKING && TIMING == 2 && RESET != 0) ? clamp(pre9, VB, OVV) != pre9 : 1'b0);
        s <= s9;
        sat_i <= si9;
    end

    // i: the current register of CUBA kinds leaves stage 4 and travels with the rest
    reg signed [W-1:0] ic [5:9];
    always @(posedge clk) begin
        ic[5] <= in4;
        for (k = 6; k <= 9; k = k + 1) ic[k] <= ic[k-1];
        i_new <= ic[9];
    end
endmodule
`default_nettype wire
